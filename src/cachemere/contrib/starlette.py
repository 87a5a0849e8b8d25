"""The page cache for Starlette and FastAPI: middleware, decorators, the Jinja2 tag (docs/starlette.md).

* ``app.add_middleware(CacheMiddleware, ...)`` (or ``Middleware(CacheMiddleware, ...)``): the ASGI
  classes of :mod:`cachemere.http.asgi`, settings from their arguments or the global settings.
* ``cache_page``, ``cache_control``, ``never_cache``, ``vary_on_headers``, ``vary_on_cookie`` on
  Starlette endpoints (functions, sync or async, and ``HTTPEndpoint`` classes) and on FastAPI path
  operations, whose signature (so dependency injection and OpenAPI) is kept.
* :func:`use_cache_tag` and :func:`render_template` for ``Jinja2Templates``.

Every decision is the page cache's own (:mod:`cachemere.http.core`, through the ASGI adapter and
:func:`~cachemere.backends.base.adrive`): this module only adapts Starlette's calling conventions.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, TypeVar

try:
    from starlette.concurrency import run_in_threadpool
    from starlette.endpoints import HTTPEndpoint
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
except ImportError as exc:  # pragma: no cover - exercised by tests/test_no_extras.py
    raise ImportError(
        f"cachemere.contrib.starlette needs Starlette: pip install 'cachemere[starlette]' ({exc})"
    ) from exc

from ..backends.base import BaseCache
from ..http import asgi
from ..http import decorators as http_decorators
from ..http.headers import add_never_cache_headers, patch_cache_control, patch_vary_headers
from ..http.messages import Headers

if TYPE_CHECKING:
    from starlette.background import BackgroundTask
    from starlette.templating import Jinja2Templates

    from ..handler import CacheHandler

__all__ = [
    "CacheMiddleware",
    "FetchFromCacheMiddleware",
    "UpdateCacheMiddleware",
    "cache_control",
    "cache_page",
    "never_cache",
    "render_template",
    "use_cache_tag",
    "vary_on_cookie",
    "vary_on_headers",
]

Scope = asgi.Scope
Message = asgi.Message
Receive = asgi.Receive
Send = asgi.Send
ASGIApp = asgi.ASGIApp
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

# -- the middleware ----------------------------------------------------------------------------

# The ASGI classes as they are (Starlette's TestClient's ``http.response.debug`` message passes
# through them); subclassed so that Starlette's and FastAPI's docs and type checkers show these names.


class UpdateCacheMiddleware(asgi.UpdateCacheMiddleware):
    """:class:`cachemere.http.asgi.UpdateCacheMiddleware` for Starlette's middleware list (outermost)."""


class FetchFromCacheMiddleware(asgi.FetchFromCacheMiddleware):
    """:class:`cachemere.http.asgi.FetchFromCacheMiddleware` for Starlette's middleware list (innermost)."""


class CacheMiddleware(asgi.CacheMiddleware):
    """:class:`cachemere.http.asgi.CacheMiddleware` for ``app.add_middleware(CacheMiddleware, ...)``."""


# -- what a decorated function endpoint knows about its function --------------------------------

# Names of the parameters added to a path operation's signature when it has no Request (or no
# Response) of its own: FastAPI fills them and documents neither (they are not fields).
_REQUEST_PARAM: Final = "cachemere_request"
_RESPONSE_PARAM: Final = "cachemere_response"


def _annotated_as(annotation: Any, kind: type) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, kind)


class _Function:
    """A function endpoint: how to find its request and call it, for Starlette or FastAPI."""

    __slots__ = ("function", "hidden_request", "hidden_response", "is_async", "request", "response")

    def __init__(self, function: Callable[..., Any], decorator: str) -> None:
        if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
            raise TypeError(
                f"{decorator} cannot decorate {function.__qualname__}: a generator endpoint streams its "
                "body (decorate a function that returns a response)"
            )
        self.function = function
        self.is_async = inspect.iscoroutinefunction(function)
        try:
            # Evaluated as FastAPI evaluates them, so the parameters found here are the ones it sees.
            signature = inspect.signature(function, eval_str=True)
        except NameError:
            signature = inspect.signature(function)
        self.request: str | None = None
        self.response: str | None = None
        for param in signature.parameters.values():
            if self.request is None and _annotated_as(param.annotation, Request):
                self.request = param.name
            elif self.response is None and _annotated_as(param.annotation, Response):
                self.response = param.name
        self.hidden_request = self.request is None
        self.hidden_response = self.response is None

    def signature_for(self, wrapper: Callable[..., Any]) -> None:
        """Give ``wrapper`` the function's signature, plus a hidden Request/Response where it has none."""
        if not (self.hidden_request or self.hidden_response):
            return  # functools.wraps's __wrapped__ already gives the function's own signature
        try:
            signature = inspect.signature(self.function, eval_str=True)
        except NameError:
            signature = inspect.signature(self.function)
        params = list(signature.parameters.values())
        extra = []
        if self.hidden_request:
            extra.append(
                inspect.Parameter(_REQUEST_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Request)
            )
        if self.hidden_response:
            extra.append(
                inspect.Parameter(_RESPONSE_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Response)
            )
        at = next((i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD), len(params))
        params[at:at] = extra
        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call:
        """The request of this call, and the arguments the function itself takes."""
        if len(args) == 1 and not kwargs and isinstance(args[0], Request):
            return _Call(args[0], args, kwargs, None, starlette=True)  # Starlette: endpoint(request)
        if args:
            raise TypeError(
                f"{self.function.__qualname__} is cached: the framework calls it, with keyword arguments "
                "(FastAPI) or with the request alone (Starlette)"
            )
        request = kwargs.pop(_REQUEST_PARAM, None) if self.hidden_request else kwargs.get(self.request or "")
        sub_response = kwargs.pop(_RESPONSE_PARAM, None) if self.hidden_response else None
        if sub_response is None and self.response is not None:
            sub_response = kwargs.get(self.response)
        if not isinstance(request, Request):
            raise TypeError(f"{self.function.__qualname__} is cached: it needs the request, got {request!r}")
        return _Call(request, args, kwargs, sub_response, starlette=False)

    async def run(self, call: _Call) -> Any:
        """The function's result (a sync function runs in Starlette's thread pool, as undecorated)."""
        # cache_page keeps a page only as long as it is fresh, so the page cache does not ask the
        # endpoint to revalidate one: the request the function was given is the one it answers.
        if self.is_async:
            return await self.function(*call.args, **call.kwargs)
        return await run_in_threadpool(self.function, *call.args, **call.kwargs)


class _Call:
    """One call of a decorated function endpoint, and what the page cache sent back for it."""

    __slots__ = (
        "args", "background", "body", "headers", "kwargs", "passed", "request", "starlette", "status",
        "sub_response",
    )  # fmt: skip

    def __init__(
        self,
        request: Request,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        sub_response: Response | None,
        *,
        starlette: bool,
    ) -> None:
        self.request = request
        self.args = args
        self.kwargs = kwargs
        self.sub_response = sub_response
        self.starlette = starlette
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.background: BackgroundTask | None = None
        self.passed: Response | None = None  # a streamed response, sent as it is

    async def capture(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = int(message["status"])
            # Starlette looks header names up in lower case (ASGI asks for them so).
            self.headers = [(name.lower(), value) for name, value in message.get("headers", ())]
        elif kind == "http.response.body":
            self.body.append(message.get("body", b""))

    def response(self) -> Response:
        if self.passed is not None:
            return self.passed
        return _Page(self.status, self.headers, b"".join(self.body), self.background)


class _Page(Response):
    """The response the page cache sent (a stored page, or the endpoint's own), as a Response."""

    def __init__(
        self,
        status: int,
        raw_headers: list[tuple[bytes, bytes]],
        body: bytes,
        background: BackgroundTask | None,
    ) -> None:
        self.status_code = status
        self.raw_headers = raw_headers
        self.body = body
        self.background = background


_calls: ContextVar[_Call] = ContextVar("cachemere.starlette.call")


def _is_plain(response: Response) -> bool:
    """A response whose whole body is in hand (not a StreamingResponse or FileResponse)."""
    return isinstance(getattr(response, "body", None), bytes | memoryview)


# -- FastAPI: a path operation's result, serialized as FastAPI serializes it --------------------


class _FastAPI:
    """FastAPI's serialization, imported on first use (plain Starlette apps never import FastAPI)."""

    loaded = False
    serialize_response: Any
    default_placeholder: Any
    body_allowed: Any
    dump_json = False

    @classmethod
    def load(cls) -> None:
        try:
            from fastapi.datastructures import DefaultPlaceholder
            from fastapi.routing import serialize_response
            from fastapi.utils import is_body_allowed_for_status_code
        except ImportError as exc:  # pragma: no cover - a path operation implies FastAPI
            raise ImportError(
                f"serializing a path operation needs FastAPI: pip install fastapi ({exc})"
            ) from exc
        cls.serialize_response = serialize_response
        cls.default_placeholder = DefaultPlaceholder
        cls.body_allowed = is_body_allowed_for_status_code
        # FastAPI >= 0.123 writes JSON with pydantic directly when the route keeps the default class.
        cls.dump_json = "dump_json" in inspect.signature(serialize_response).parameters
        cls.loaded = True


async def _serialized(function: _Function, call: _Call, result: Any) -> Response:
    """``result`` as the response FastAPI would make of it for the route being served."""
    route: Any = call.request.scope.get("route")
    if call.starlette or not hasattr(route, "response_field"):
        raise TypeError(
            f"{function.function.__qualname__} returned {type(result).__name__}, not a Response "
            "(only a FastAPI path operation may return other values)"
        )
    if not _FastAPI.loaded:
        _FastAPI.load()
    response_class = route.response_class
    default_class = isinstance(response_class, _FastAPI.default_placeholder)
    use_dump_json = _FastAPI.dump_json and route.response_field is not None and default_class
    options: dict[str, Any] = {}
    if use_dump_json:
        options["dump_json"] = True
    content = await _FastAPI.serialize_response(
        field=route.response_field,
        response_content=result,
        include=route.response_model_include,
        exclude=route.response_model_exclude,
        by_alias=route.response_model_by_alias,
        exclude_unset=route.response_model_exclude_unset,
        exclude_defaults=route.response_model_exclude_defaults,
        exclude_none=route.response_model_exclude_none,
        is_coroutine=function.is_async,
        **options,
    )
    sub = call.sub_response
    arguments: dict[str, Any] = {}
    status = sub.status_code if sub is not None and sub.status_code else route.status_code
    if status is not None:
        arguments["status_code"] = status
    if use_dump_json:
        response: Response = Response(content=content, media_type="application/json", **arguments)
    else:
        actual = response_class.value if default_class else response_class
        response = actual(content, **arguments)
    if not _FastAPI.body_allowed(response.status_code):
        response.body = b""
    if sub is not None:
        response.raw_headers.extend(sub.raw_headers)
    return response


# -- the decorators ----------------------------------------------------------------------------


def _endpoint_class(cls: type[HTTPEndpoint], decorate: Callable[[ASGIApp], ASGIApp]) -> type[HTTPEndpoint]:
    """A subclass of ``cls`` whose requests go through ``decorate``'s ASGI layer (Route sees a class)."""
    current: ContextVar[HTTPEndpoint] = ContextVar(f"cachemere.starlette.{cls.__qualname__}")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = current.get()
        endpoint.scope, endpoint.receive, endpoint.send = scope, receive, send
        await cls.dispatch(endpoint)

    layer = decorate(app)

    async def dispatch(self: HTTPEndpoint) -> None:
        token = current.set(self)
        try:
            await layer(self.scope, self.receive, self.send)
        finally:
            current.reset(token)

    decorated = type(cls.__name__, (cls,), {"dispatch": dispatch, "__doc__": cls.__doc__})
    decorated.__module__ = cls.__module__
    decorated.__qualname__ = cls.__qualname__
    return decorated


def _other(endpoint: Any, decorate: Callable[[Any], Any], name: str) -> Any:
    """An HTTPEndpoint class or a plain ASGI app; TypeError for anything else."""
    if isinstance(endpoint, type) and issubclass(endpoint, HTTPEndpoint):
        return _endpoint_class(endpoint, decorate)
    if not inspect.isfunction(endpoint) and http_decorators.is_asgi(endpoint):
        return decorate(endpoint)
    raise TypeError(
        f"{name} decorates a Starlette endpoint (a function or an HTTPEndpoint class), a FastAPI path "
        f"operation or an ASGI app object, got {endpoint!r}"
    )


def _follow_session(response: Response, session: Any, before: dict[str, Any] | None) -> None:
    """Key a page on the session cookie when there is a session, and never store one that changed it.

    Starlette's SessionMiddleware runs outside the endpoint and adds its ``Vary: Cookie`` and
    ``Set-Cookie`` after the page cache has seen the response, so the page is marked here: a
    page built from a visitor's session is that visitor's (a login, a CSRF token).
    """
    if not isinstance(session, dict):
        return
    if session or before:
        patch_vary_headers(response.headers, ("Cookie",))
    if session != before:
        patch_cache_control(response.headers, private=True)


def cache_page(
    timeout: float, *, cache: BaseCache | str | None = None, key_prefix: str | None = None
) -> Callable[[Endpoint], Endpoint]:
    """Cache the endpoint's responses for ``timeout`` seconds (:func:`cachemere.http.cache_page`'s rules).

    A FastAPI path operation that returns a dict or a model is cached as FastAPI serializes it
    for its route (``response_model``, ``response_class``, ``status_code``); its dependencies still
    run on a hit (use the middleware to skip them too).
    """
    page = http_decorators.cache_page(timeout, cache=cache, key_prefix=key_prefix)

    def decorate(endpoint: Endpoint) -> Endpoint:
        if not inspect.isfunction(endpoint):
            return _other(endpoint, page, "cache_page")  # type: ignore[no-any-return]
        function = _Function(endpoint, "cache_page")

        async def produce(scope: Scope, receive: Receive, send: Send) -> None:
            call = _calls.get()
            session = scope.get("session")
            before = dict(session) if isinstance(session, dict) else None
            result = await function.run(call)
            response = result if isinstance(result, Response) else await _serialized(function, call, result)
            if not _is_plain(response):
                call.passed = response  # a stream is never stored: it goes out as it is
                return
            _follow_session(response, session, before)
            # Background tasks run after the response is sent to the client, not when it is stored.
            call.background, response.background = response.background, None
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": response.raw_headers})  # fmt: skip
            await send({"type": "http.response.body", "body": bytes(response.body)})

        layer = page(produce)

        @functools.wraps(endpoint)
        async def cached(*args: Any, **kwargs: Any) -> Response:
            call = function.bind(args, kwargs)
            token = _calls.set(call)
            try:
                request = call.request
                await layer(request.scope, request.receive, call.capture)
            finally:
                _calls.reset(token)
            return call.response()

        function.signature_for(cached)
        return cached  # type: ignore[return-value]

    return decorate


def _patched(response: Response, patch: Callable[[Headers], None]) -> None:
    headers = Headers(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in response.raw_headers
    )
    patch(headers)
    # In place: the response's MutableHeaders view shares this list.
    response.raw_headers[:] = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
    ]


def _patching(
    patch: Callable[[Headers], None], asgi_layer: Callable[[Any], Any], name: str
) -> Callable[[Endpoint], Endpoint]:
    """A decorator editing the endpoint's response headers with ``patch`` (``asgi_layer`` for classes)."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        if not inspect.isfunction(endpoint):
            return _other(endpoint, asgi_layer, name)  # type: ignore[no-any-return]
        function = _Function(endpoint, name)

        @functools.wraps(endpoint)
        async def patching(*args: Any, **kwargs: Any) -> Any:
            call = function.bind(args, kwargs)
            result = await function.run(call)
            if isinstance(result, Response):
                _patched(result, patch)
            elif call.sub_response is not None:
                # FastAPI adds this response's headers to the one it serializes from the result.
                _patched(call.sub_response, patch)
            else:
                raise TypeError(
                    f"{endpoint.__qualname__} returned {type(result).__name__}, not a Response "
                    "(only a FastAPI path operation may return other values)"
                )
            return result

        function.signature_for(patching)
        return patching  # type: ignore[return-value]

    return decorate


def cache_control(**directives: Any) -> Callable[[Endpoint], Endpoint]:
    """Merge ``directives`` into the response's Cache-Control (``patch_cache_control``'s rules)."""
    return _patching(
        lambda headers: patch_cache_control(headers, **directives),
        http_decorators.cache_control(**directives),
        "cache_control",
    )


def never_cache(endpoint: Endpoint) -> Endpoint:
    """Mark every response of ``endpoint`` as never to be cached anywhere (``add_never_cache_headers``)."""
    return _patching(add_never_cache_headers, http_decorators.never_cache, "never_cache")(endpoint)


def vary_on_headers(*names: str) -> Callable[[Endpoint], Endpoint]:
    """Add ``names`` to the response's Vary (``patch_vary_headers``)."""
    return _patching(
        lambda headers: patch_vary_headers(headers, names),
        http_decorators.vary_on_headers(*names),
        "vary_on_headers",
    )


def vary_on_cookie(endpoint: Endpoint) -> Endpoint:
    """``vary_on_headers("Cookie")``."""
    return vary_on_headers("Cookie")(endpoint)


# -- Jinja2Templates ---------------------------------------------------------------------------


def use_cache_tag(templates: Jinja2Templates, *, caches: CacheHandler | None = None) -> Jinja2Templates:
    """Add the ``{% cache %}`` tag (``cachemere.templates.jinja.CacheExtension``) to ``templates.env``.

    ``caches`` (a :class:`~cachemere.CacheHandler`) is where the tag finds its caches; by
    default ``cachemere.caches``, the global settings' caches.
    """
    from ..templates.jinja import CacheExtension

    env = templates.env
    if not any(isinstance(ext, CacheExtension) for ext in env.extensions.values()):
        env.add_extension(CacheExtension)
    if caches is not None:
        env.fragment_caches = caches  # type: ignore[attr-defined]
    return templates


async def render_template(
    templates: Jinja2Templates,
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    media_type: str | None = None,
    background: BackgroundTask | None = None,
) -> Response:
    """``templates.TemplateResponse(request, name, context, ...)``, awaited when the environment is async.

    Jinja2Templates renders synchronously, which an async environment
    (``Environment(enable_async=True)``) cannot do inside the event loop; there the
    template is rendered with ``render_async``, so a ``{% cache %}`` tag on a
    network backend awaits its cache instead of blocking the loop.
    """
    if not templates.env.is_async:
        return templates.TemplateResponse(
            request, name, dict(context or {}), status_code, headers, media_type, background
        )
    values = dict(context or {})
    values.setdefault("request", request)
    for processor in templates.context_processors:
        values.update(processor(request))
    content = await templates.get_template(name).render_async(values)
    return HTMLResponse(content, status_code, headers, media_type, background)
