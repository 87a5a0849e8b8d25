"""The page cache's three phases as cache-step logic: fetch, update and invalidate.

Each phase is a :data:`~cachemere.backends.base.Logic` generator, driven by
the WSGI adapter with :func:`~cachemere.backends.base.drive` and by the ASGI
adapter with :func:`~cachemere.backends.base.adrive`, so both share every
decision.  The decisions themselves are in :mod:`.policy` (pure) and the keys
in :mod:`.keys`; this module only sequences cache calls around them.

Failing open lives here, once: a backend exception thrown into a phase is
logged (logger ``cachemere.http``) and becomes a miss, a skipped store or a
skipped invalidation.  It never reaches the app's client as a 500.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Final, Generic, TypeVar

from ..backends.base import BaseCache, Logic
from ..conf import DEFAULT_CACHE_ALIAS, DEFAULTS, LazySettings, Settings, SettingsSource, check_names
from ..conf import settings as _global_settings
from ..exceptions import ImproperlyConfigured, InvalidCacheBackendError
from ..handler import CacheHandler
from ..handler import caches as _global_caches
from . import i18n, policy
from .headers import get_max_age, patch_vary_headers
from .keys import (
    READ_GENERATION,
    cache_header_key,
    generation_key,
    learn_cache_key_logic,
    lookup_logic,
    pin_locale,
)
from .messages import Headers, Request

__all__ = [
    "Config",
    "Hit",
    "Miss",
    "Page",
    "SettingsArg",
    "client_answer",
    "fetch",
    "handler_for",
    "host_allowed",
    "invalidate",
    "page_settings",
    "pending",
    "refreshed_page",
    "resolve_cache",
    "update",
]

logger = logging.getLogger("cachemere.http")

#: A stored page: (status, header pairs, body, time.time() when the response was received).
Page = tuple[int, tuple[tuple[str, str], ...], bytes, float]

# How many variants of one URL are stored (each remembered for invalidation); past that, new
# variants are served uncached until old ones expire, so a cache-busting Vary cannot grow it.
MAX_VARIANTS: Final = 64
_VARIANTS_SUFFIX: Final = ".variants"
#: The shortest life of a URL's generation (seconds): see :func:`invalidate`.
GENERATION_LIFETIME: Final = 86400.0


class Hit:
    """A stored page to send as it is: the adapter writes ``status``, ``headers`` and ``body``."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class Miss:
    """The app must answer.  ``store`` says whether :func:`update` may store its answer.

    ``stale`` is a stored page the app is asked to revalidate: the adapter adds
    ``conditions`` (If-None-Match / If-Modified-Since) to the request it passes on,
    and turns a 304 from the app into :func:`refreshed_page`.  ``revalidated`` is
    set by the adapter when that happened, so the outer update knows the client
    may get a 304 of its own.  ``generation`` is the URL's when the request
    arrived (see :func:`invalidate`); the answer is stored under it.
    """

    __slots__ = ("conditions", "generation", "request", "revalidated", "stale", "store")

    def __init__(
        self,
        request: Request,
        store: bool,
        stale: Page | None = None,
        conditions: Sequence[tuple[str, str]] = (),
        generation: str | None = None,
    ) -> None:
        self.request = request
        self.store = store
        self.stale = stale
        self.conditions = conditions
        self.generation = generation
        self.revalidated = False


#: Set by an UpdateCacheMiddleware around the inner app to an empty list; the
#: FetchFromCacheMiddleware inside appends its Miss.  A holder (rather than the
#: Miss itself, or a key in the environ/scope) survives inner layers that copy
#: the scope or run the app in a task with a copied context.
pending: ContextVar[list[Miss] | None] = ContextVar("cachemere.http.pending", default=None)


# -- configuration shared by both adapters ----------------------------------------------------


def resolve_cache(
    cache: BaseCache | str | None, alias: str | None, handler: CacheHandler | None = None
) -> Callable[[], BaseCache]:
    """A function giving the cache to use on each call: an instance as it is, else ``handler[alias]``.

    An alias is looked up per call because a handler keeps one backend per thread.
    ``handler`` None means ``cachemere.caches`` (the global settings).
    """
    if isinstance(cache, BaseCache):
        instance = cache
        return lambda: instance
    caches = _global_caches if handler is None else handler
    if cache is not None and not isinstance(cache, str):
        raise TypeError(f"cache must be a cache instance or an alias, got {cache!r}")
    name = cache if cache is not None else alias
    if name is None:
        name = str(_global_settings.CACHE_MIDDLEWARE_ALIAS)
    if name not in caches:
        raise InvalidCacheBackendError(f"The cache {name!r} doesn't exist (page cache alias).")
    return lambda: caches[name]


_UNSET: Final[Any] = object()

# CACHE_MIDDLEWARE_CDN_CACHE_CONTROL for callers of fetch/update that pass no Config value,
# remembered until the settings change so such a call costs no settings lookup.
_cdn_setting: list[policy.CdnMode] = []
_cdn_listening: list[bool] = []


def _forget_cdn_setting() -> None:
    _cdn_setting.clear()


def _cdn_default() -> policy.CdnMode:
    if not _cdn_setting:
        if not _cdn_listening:
            _global_settings.on_change(_forget_cdn_setting)
            _cdn_listening.append(True)
        _cdn_setting.append(_cdn_flag(_global_settings.CACHE_MIDDLEWARE_CDN_CACHE_CONTROL))
    return _cdn_setting[0]


def _cdn_flag(value: Any) -> policy.CdnMode:
    if not isinstance(value, bool) and value != policy.STRICTER:
        raise ImproperlyConfigured(
            f"CACHE_MIDDLEWARE_CDN_CACHE_CONTROL must be 'stricter', True or False, got {value!r}"
        )
    return value if isinstance(value, bool) else policy.STRICTER


#: Where a page-cache layer reads its settings: None for the global settings (read when used),
#: or a mapping of setting names, or a settings object (:class:`cachemere.conf.Settings`), read once.
SettingsArg = Mapping[str, Any] | SettingsSource | None


def page_settings(settings: SettingsArg, where: str = "settings") -> SettingsSource:
    """The settings a layer built with ``settings=`` reads, checked once; errors start with ``where``.

    None (or ``cachemere.settings``) is the global settings.  A mapping holds
    setting names as ``configure()`` takes them (unknown names are refused,
    unset ones have their defaults, and no global setting is read).  Values
    the page cache reads are checked here, each error naming its setting.
    """
    if settings is None or isinstance(settings, LazySettings):
        return _global_settings
    source: SettingsSource
    if isinstance(settings, Mapping):
        check_names(settings, f"{where}: ")
        try:
            source = Settings(settings, require_default=False)
        except ImproperlyConfigured as exc:
            raise ImproperlyConfigured(f"{where}: {exc}") from exc
    elif isinstance(settings, (str, bytes)) or not hasattr(settings, "CACHES"):
        raise TypeError(f"settings must be a mapping of setting names or a Settings, got {settings!r}")
    else:
        source = settings
    _check_page_settings(source, where)
    return source


def _check_page_settings(source: SettingsSource, where: str) -> None:
    def bad(name: str, expected: str) -> ImproperlyConfigured:
        return ImproperlyConfigured(f"{where}: {name} must be {expected}, got {getattr(source, name)!r}")

    for name in ("CACHE_MIDDLEWARE_SECONDS", "CACHE_MIDDLEWARE_MAX_BODY_SIZE"):
        value = getattr(source, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise bad(name, "a number >= 0")
    for name in ("CACHE_MIDDLEWARE_KEY_PREFIX", "CACHE_MIDDLEWARE_ALIAS", "LANGUAGE_CODE", "TIME_ZONE"):
        if not isinstance(getattr(source, name), str):
            raise bad(name, "a str")
    for name in ("USE_I18N", "USE_TZ"):
        if not isinstance(getattr(source, name), bool):
            raise bad(name, "True or False")
    cdn = source.CACHE_MIDDLEWARE_CDN_CACHE_CONTROL
    if not isinstance(cdn, bool) and cdn != policy.STRICTER:
        raise bad("CACHE_MIDDLEWARE_CDN_CACHE_CONTROL", "'stricter', True or False")
    hosts = source.ALLOWED_HOSTS
    if not isinstance(hosts, (list, tuple)) or not all(isinstance(host, str) for host in hosts):
        raise bad("ALLOWED_HOSTS", 'a list of host names (["example.com"])')
    try:
        i18n.check_language(source.LANGUAGE_CODE)
        i18n.check_timezone(source.TIME_ZONE)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{where}: {exc}") from None


def handler_for(settings: SettingsSource) -> CacheHandler:
    """A :class:`~cachemere.CacheHandler` of ``settings``' ``CACHES``; its backends read ``settings``."""
    values = {name: getattr(settings, name) for name in DEFAULTS if name != "CACHES"}
    return CacheHandler(settings.CACHES, **values)


class Config:
    """A middleware's settings, resolved once at construction as Django's middleware does.

    ``key_prefix`` and ``cache_alias`` not given mean the ``CACHE_MIDDLEWARE_*``
    settings; given as None they mean ``""`` and ``"default"`` (Django's
    CacheMiddleware, hence cache_page).  ``cache`` (an instance or an alias)
    beats ``cache_alias``.  ``cdn_cache_control`` not given means the
    ``CACHE_MIDDLEWARE_CDN_CACHE_CONTROL`` setting (default ``"stricter"``): how a
    response's valid ``CDN-Cache-Control`` is read (:data:`policy.CdnMode`).

    ``settings`` (see :func:`page_settings`) is where every setting is read:
    by default the global settings, of which ``ALLOWED_HOSTS``, ``USE_I18N``,
    ``USE_TZ``, ``LANGUAGE_CODE`` and ``TIME_ZONE`` are read per request; an
    explicit mapping or Settings is read here, once.  ``caches`` (a
    :class:`~cachemere.CacheHandler`) is where aliases are found: by default
    ``cachemere.caches`` under the global settings, else a handler of the
    given settings' own ``CACHES``.
    """

    __slots__ = (
        "allowed_hosts", "cache_timeout", "cdn_cache_control", "get_cache", "key_prefix", "max_body_size",
        "page_timeout", "settings", "store_set_cookie",
    )  # fmt: skip

    def __init__(
        self,
        cache_timeout: float | None = None,
        page_timeout: float | None = None,
        key_prefix: Any = _UNSET,
        cache_alias: Any = _UNSET,
        cache: BaseCache | str | None = None,
        max_body_size: int | None = None,
        store_set_cookie: bool = False,
        cdn_cache_control: policy.CdnMode | None = None,
        *,
        settings: SettingsArg = None,
        caches: CacheHandler | None = None,
    ) -> None:
        source = page_settings(settings)
        own = not isinstance(source, LazySettings)
        #: The settings keys are made with; None: the global settings, read per request.
        self.settings: SettingsSource | None = source if own else None
        #: ``ALLOWED_HOSTS`` resolved once; None: the global setting, read per request.
        self.allowed_hosts: tuple[str, ...] | None = tuple(source.ALLOWED_HOSTS) if own else None
        if caches is not None and not isinstance(caches, CacheHandler):
            raise TypeError(f"caches must be a CacheHandler, got {caches!r}")
        if caches is None and own:
            caches = handler_for(source)
        self.cache_timeout: float = (
            source.CACHE_MIDDLEWARE_SECONDS if cache_timeout is None else cache_timeout
        )
        self.page_timeout = page_timeout
        if key_prefix is _UNSET:
            key_prefix = source.CACHE_MIDDLEWARE_KEY_PREFIX
        self.key_prefix: str = key_prefix or ""
        if cache_alias is _UNSET:
            cache_alias = source.CACHE_MIDDLEWARE_ALIAS
        self.get_cache = resolve_cache(cache, cache_alias or DEFAULT_CACHE_ALIAS, caches)
        self.max_body_size: int = (
            source.CACHE_MIDDLEWARE_MAX_BODY_SIZE if max_body_size is None else max_body_size
        )
        if not isinstance(store_set_cookie, bool):
            raise TypeError(f"store_set_cookie must be True or False, got {store_set_cookie!r}")
        self.store_set_cookie = store_set_cookie
        if cdn_cache_control is None:
            cdn_cache_control = _cdn_flag(source.CACHE_MIDDLEWARE_CDN_CACHE_CONTROL)
        elif not isinstance(cdn_cache_control, bool) and cdn_cache_control != policy.STRICTER:
            raise TypeError(f"cdn_cache_control must be 'stricter', True or False, got {cdn_cache_control!r}")
        self.cdn_cache_control: policy.CdnMode = cdn_cache_control


AppT = TypeVar("AppT")


class StoringLayer(Generic[AppT]):
    """The constructor of the middleware classes that store (Update and Cache), for either protocol.

    ``cache_timeout`` defaults to ``CACHE_MIDDLEWARE_SECONDS``, ``key_prefix``
    to ``CACHE_MIDDLEWARE_KEY_PREFIX``, ``cache_alias`` to
    ``CACHE_MIDDLEWARE_ALIAS``; ``cache`` (an instance or alias) beats the alias.
    ``store_set_cookie=True`` stores responses that carry ``Set-Cookie``, which are
    refused by default: dangerous, as every client of the page then gets that
    cookie (a session cookie becomes everyone's session).  ``settings`` and
    ``caches``: where settings and aliases come from (:class:`Config`).
    """

    def __init__(
        self,
        app: AppT,
        cache_timeout: float | None = None,
        page_timeout: float | None = None,
        key_prefix: Any = _UNSET,
        cache_alias: Any = _UNSET,
        cache: BaseCache | str | None = None,
        max_body_size: int | None = None,
        store_set_cookie: bool = False,
        *,
        settings: SettingsArg = None,
        caches: CacheHandler | None = None,
    ) -> None:
        self.app = app
        self.config = Config(
            cache_timeout, page_timeout, key_prefix, cache_alias, cache, max_body_size, store_set_cookie,
            settings=settings, caches=caches,
        )  # fmt: skip


class FetchingLayer(Generic[AppT]):
    """The constructor of FetchFromCacheMiddleware, for either protocol (arguments as :class:`StoringLayer`).

    An Update/Fetch pair must be given the same ``settings`` and ``caches``.
    """

    def __init__(
        self,
        app: AppT,
        key_prefix: Any = _UNSET,
        cache_alias: Any = _UNSET,
        cache: BaseCache | str | None = None,
        cache_timeout: float | None = None,
        *,
        settings: SettingsArg = None,
        caches: CacheHandler | None = None,
    ) -> None:
        self.app = app
        self.config = Config(
            cache_timeout, None, key_prefix, cache_alias, cache, settings=settings, caches=caches
        )


def allowed_hosts() -> Sequence[str]:
    """The global ``ALLOWED_HOSTS`` as in force now."""
    return _global_settings.ALLOWED_HOSTS  # type: ignore[no-any-return]


# RFC 3986 reg-name / IPv4 / bracketed IPv6, then an optional port (as Django's host check).
_HOST_RE: Final = re.compile(r"^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(:[0-9]+)?$")


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """True when ``host`` (``name[:port]``, from the Host header) is well formed and in ``allowed``.

    Patterns as Django's ``ALLOWED_HOSTS``: ``"*"`` any host, ``".example.com"``
    the domain and its subdomains, anything else an exact, case-insensitive name.
    """
    memo_key = (host, tuple(allowed))
    verdict = _host_verdicts.get(memo_key)
    if verdict is None:
        verdict = _host_allowed(host.lower(), memo_key[1])
        if len(_host_verdicts) >= _HOST_MEMO_SIZE:  # clients choose Host headers: stay bounded
            _host_verdicts.clear()
        _host_verdicts[memo_key] = verdict
    return verdict


_host_verdicts: dict[tuple[str, tuple[str, ...]], bool] = {}
_HOST_MEMO_SIZE: Final = 1024


def _host_allowed(host: str, allowed: Sequence[str]) -> bool:
    match = _HOST_RE.match(host)
    if match is None:
        return False
    name = match.group(1).removesuffix(".")
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern == "*":
            return True
        if pattern.startswith("."):
            if name == pattern[1:] or name.endswith(pattern):
                return True
        elif name == pattern:
            return True
    return False


# -- what a hit needs, computed once per stored page ------------------------------------------

# (headers without Age, age when stored, freshness lifetime, has a validator), per stored
# (headers, stored_at): a locmem hit returns the very tuple stored, so this parses nothing twice.
_Facts = tuple[tuple[tuple[str, str], ...], float, float, bool]
_FactsKey = tuple[tuple[tuple[str, str], ...], float, float, "float | None", policy.CdnMode]
_facts: dict[_FactsKey, _Facts] = {}
_FACTS_SIZE: Final = 2048


def _facts_of(
    headers: tuple[tuple[str, str], ...],
    stored_at: float,
    default: float,
    page_timeout: float | None,
    cdn: policy.CdnMode,
) -> _Facts:
    memo_key = (headers, stored_at, default, page_timeout, cdn)
    facts = _facts.get(memo_key)
    if facts is None:
        parsed = Headers(headers)
        # current_age is linear in `now` (RFC 9111 §4.2.3: initial age + resident time), and a
        # page fresh at some age stays fresh until lifetime: so is_fresh at `now` is
        # age(now) < lifetime, with both computed here once.
        initial_age = policy.current_age(parsed, stored_at, stored_at)
        if policy.is_fresh(parsed, stored_at, stored_at, default, page_timeout=page_timeout, cdn=cdn):
            lifetime = (
                float(page_timeout)
                if page_timeout is not None
                else policy.freshness_lifetime(parsed, default, received_at=stored_at, cdn=cdn)
            )
        else:
            lifetime = 0.0
        facts = (
            tuple(pair for pair in headers if pair[0].lower() != "age"),
            initial_age,
            lifetime,
            "etag" in parsed or "last-modified" in parsed,
        )
        if len(_facts) >= _FACTS_SIZE:
            _facts.clear()
        _facts[memo_key] = facts
    return facts


_CONDITIONAL: Final = frozenset({"if-none-match", "if-modified-since"})


def _is_conditional(request: Request) -> bool:
    if request.conditional is not None:
        return request.conditional
    return any(name.lower() in _CONDITIONAL for name, _ in request.headers)


def _miss(
    request: Request,
    generation: str | None,
    stale: Page | None = None,
    conditions: Sequence[tuple[str, str]] = (),
) -> Miss:
    # Whether the answer may be stored is asked only on a miss: a hit never needs it.
    return Miss(request, policy.may_store_for(request), stale, conditions, generation)


def _is_page(value: Any) -> bool:
    return type(value) is tuple and len(value) == 4 and type(value[1]) is tuple


# -- failing open -------------------------------------------------------------------------------

#: Seconds between two tracebacks of one kind of failure: a backend that is down fails every
#: request, and a traceback each would flood the log (megabytes a second under load).
FAILURE_LOG_INTERVAL: Final = 10.0
_failures: dict[str, list[float]] = {}  # kind -> [time of the last traceback, failures since]


def forget_failures() -> None:
    """Forget the failures logged so far: the next one is logged with its traceback (for tests)."""
    _failures.clear()


def _log_failure(kind: str, message: str, path: str) -> None:
    """Log a backend failure the cache fails open on: a traceback now and then, a count in between."""
    now = time.monotonic()
    record = _failures.setdefault(kind, [-FAILURE_LOG_INTERVAL, 0])
    if now - record[0] >= FAILURE_LOG_INTERVAL:
        since = f" ({int(record[1])} more since the last report)" if record[1] else ""
        record[0], record[1] = now, 0
        logger.warning(message + since, path, exc_info=True)
    else:
        record[1] += 1
        logger.debug(message, path)


# -- the phases --------------------------------------------------------------------------------


def fetch(
    request: Request,
    key_prefix: str,
    default_timeout: float,
    page_timeout: float | None = None,
    *,
    cdn_cache_control: policy.CdnMode | None = None,
    settings: SettingsSource | None = None,
) -> Logic[Hit | Miss | None]:
    """Look ``request`` up: a :class:`Hit` to send, a :class:`Miss` to answer, or None.

    None means the request is not the cache's (an unsafe method, a fat GET):
    the app answers and nothing is stored.  ``default_timeout`` is the
    freshness assumed for a page whose headers state none; ``page_timeout``
    (cache_page's) replaces the page's own lifetime, as in Django.
    ``cdn_cache_control`` is :attr:`Config.cdn_cache_control`; None means the setting.
    ``settings`` (:attr:`Config.settings`) keys the page; None means the global settings.
    """
    if request.method not in policy.CACHEABLE_METHODS or not policy.may_serve_from_cache(request):
        if request.method in policy.CACHEABLE_METHODS:
            return Miss(request, store=False)
        return Miss(request, store=False) if policy.invalidates(request.method, 200) else None
    # An outer update layer keys the page after a locale middleware inside it has
    # left its override: fix the language and time zone now, as this lookup sees them.
    pin_locale(request, settings=settings)
    try:
        key, generation = yield from lookup_logic(request, key_prefix, "GET", settings=settings)
        if key is None:
            return _miss(request, generation)
        page = yield ("get", (key, None))
        if page is None and request.method == "HEAD":
            # A HEAD may be answered from a GET entry; a GET never from a HEAD entry.
            key, generation = yield from lookup_logic(request, key_prefix, "HEAD", settings=settings)
            page = None if key is None else (yield ("get", (key, None)))
    except Exception:
        _log_failure("lookup", "page cache lookup failed for %s; serving uncached", request.path)
        # Not storing either: a backend that just failed would make this request wait twice.
        return Miss(request, store=False)
    if not _is_page(page):
        return _miss(request, generation)
    status, headers, body, stored_at = page
    cdn = _cdn_default() if cdn_cache_control is None else cdn_cache_control
    base, initial_age, lifetime, has_validator = _facts_of(
        headers, stored_at, default_timeout, page_timeout, cdn
    )
    now = time.time()
    age = initial_age + max(0.0, now - stored_at)
    if age >= lifetime:
        if has_validator:
            return _miss(request, generation, page, policy.revalidation_headers(Headers(headers)))
        return _miss(request, generation)
    age_pair = ("Age", str(int(age)))
    if _is_conditional(request) and policy.not_modified(request.headers, Headers(base)):
        kept = policy.not_modified_headers(Headers(base))
        del kept["Age"]
        return Hit(304, [*kept, age_pair], b"")
    return Hit(status, [*base, age_pair], b"" if request.method == "HEAD" else body)


def refreshed_page(stale: Page, not_modified: Headers) -> tuple[int, Headers, bytes]:
    """The stored page ``stale`` brought up to date by the app's 304 (RFC 9111 §4.3.4)."""
    headers = policy.refreshed_headers(Headers(stale[1]), not_modified)
    del headers["Age"]
    return stale[0], headers, stale[2]


def client_answer(miss: Miss, status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
    """What the client gets after :func:`update`: a 304 when a revalidated page meets its conditions."""
    revalidated = miss.revalidated and status == 200 and _is_conditional(miss.request)
    if revalidated and policy.not_modified(miss.request.headers, headers):
        return 304, policy.not_modified_headers(headers), b""
    return status, headers, body


def _downstream_timeout(headers: Headers, page_timeout: float | None, cache_timeout: float) -> float:
    # Django's precedence for the headers it adds: cache_page's timeout, else the response's
    # own max-age, else CACHE_MIDDLEWARE_SECONDS.  A response whose only freshness is a future
    # Expires keeps it: Django would add max-age=CACHE_MIDDLEWARE_SECONDS, which overrides that
    # Expires downstream and here (a stored page's lifetime comes from its stored headers).
    if page_timeout is not None:
        return page_timeout
    max_age = get_max_age(headers)
    if max_age is not None:
        return max_age
    if "Expires" in headers:
        return policy.freshness_lifetime(headers, cache_timeout)
    return cache_timeout


def update(
    request: Request,
    status: int,
    headers: Headers,
    body: bytes,
    key_prefix: str,
    cache_timeout: float,
    page_timeout: float | None = None,
    store: bool = True,
    store_set_cookie: bool = False,
    *,
    cdn_cache_control: policy.CdnMode | None = None,
    settings: SettingsSource | None = None,
    generation: Any = READ_GENERATION,
) -> Logic[bool]:
    """Decide on the app's answer to ``request``; store it if allowed.  Returns True when stored.

    ``generation``: the :attr:`Miss.generation` of the lookup (read now when not given).

    ``headers`` is edited in place first, before any cache call, so the client
    gets the same headers whether or not the backend works: ``Expires`` and
    ``max-age`` for downstream caches (never on a response marked private or
    no-store, or that gave only s-maxage or a past Expires) and ``Vary:
    Authorization`` when the request was authorized and the response not public.
    ``body`` is the complete body (the adapter never calls this for a stream).
    ``store`` False (the fetch phase said so) still adds the headers, as Django.
    An unsafe method's successful answer invalidates the URL instead.
    ``store_set_cookie`` is the dangerous opt-in that stores a response carrying
    ``Set-Cookie`` (its cookie is then replayed to every client of the page).
    ``cdn_cache_control`` (:attr:`Config.cdn_cache_control`; None means the setting):
    a valid ``CDN-Cache-Control`` decides storing and lifetime instead of
    Cache-Control; the headers added downstream still follow Cache-Control, and
    both fields are passed on unchanged.  ``settings`` as for :func:`fetch`.
    """
    if request.method not in policy.CACHEABLE_METHODS:
        if policy.invalidates(request.method, status):
            yield from invalidate(request, key_prefix, settings=settings)
        return False
    cdn = _cdn_default() if cdn_cache_control is None else cdn_cache_control
    reason = policy.store_refusal(status, headers, request, allow_set_cookie=store_set_cookie, cdn=cdn)
    if status == 304:
        # Django gives a 304 the downstream headers but never stores it.
        reason = reason or "status 304"
    elif reason is not None:
        logger.debug("page %s not stored: %s", request.path, reason)
        return False
    timeout = policy.store_timeout(headers, page_timeout, cache_timeout, cdn=cdn)
    if timeout is None:
        return False
    policy.add_downstream_headers(headers, _downstream_timeout(headers, page_timeout, cache_timeout))
    if policy.needs_authorization_vary(request, headers, cdn=cdn):
        patch_vary_headers(headers, ("Authorization",))
    if reason is not None or not store or not timeout or not policy.may_store_for(request):
        return False
    if request.method != "HEAD" and not _complete(headers, body):
        # An incomplete message (RFC 9112 §8: a render cut short) must never answer others (RFC 9111 §3.4).
        logger.debug("page %s not stored: body does not match its Content-Length", request.path)
        return False
    stored_body = b"" if request.method == "HEAD" else body
    page: Page = (status, policy.storable_headers(headers), stored_body, time.time())
    try:
        key = yield from learn_cache_key_logic(
            request, headers, timeout, key_prefix, settings=settings, generation=generation
        )
        if not (yield from _remember_variant(request, key_prefix, key, timeout, settings)):
            logger.debug("page %s not stored: %d variants already", request.path, MAX_VARIANTS)
            return False
        yield ("set", (key, page, timeout))
    except Exception:
        _log_failure("store", "page cache store failed for %s; page not stored", request.path)
        return False
    return True


def _complete(headers: Headers, body: bytes) -> bool:
    """False when the body is not what its Content-Length says (a missing one says nothing)."""
    lengths = headers.get_all("Content-Length")
    if not lengths:
        return True
    return all(value.strip().isdigit() and int(value) == len(body) for value in lengths)


def _remember_variant(
    request: Request, key_prefix: str, key: str, timeout: float, settings: SettingsSource | None
) -> Logic[bool]:
    """Add ``key`` to its URL's variant index; False (store nothing) when the index is full.

    The header list is per URL but pages are per variant; invalidation needs every variant's
    key, so each URL keeps a short index of (page key, expiry) beside its header list.  A full
    index refuses new variants rather than forgetting old ones: a forgotten variant would
    outlive the next invalidation.  The index is written before the page, so a page is never
    stored unlisted.
    """
    index_key = cache_header_key(request, key_prefix, settings=settings) + _VARIANTS_SUFFIX
    now = time.time()
    known = yield ("get", (index_key, None))
    previous = known if isinstance(known, list) else []
    entries = [(k, expires) for k, expires in previous if expires > now and k != key]
    if len(entries) >= MAX_VARIANTS:
        return False
    entries.append((key, now + timeout))
    yield ("set", (index_key, entries, max(expires for _, expires in entries) - now))
    return True


def invalidate(request: Request, key_prefix: str, *, settings: SettingsSource | None = None) -> Logic[None]:
    """Forget every stored variant (GET and HEAD) of ``request``'s URL (RFC 9111 §4.4).

    The URL gets a new generation, in every language and time zone, before anything is
    deleted: page keys include it, so every page stored before it, and every answer to a
    request that arrived before it (its view may have read the old data), is under a key no
    lookup makes, however stores and this invalidation interleave across processes.  The
    generation outlives every variant the URL's index lists, and at least
    :data:`GENERATION_LIFETIME` and ``CACHE_MIDDLEWARE_SECONDS``, so a form posted to many URLs
    leaves no key behind for ever.  Then the listed variants are deleted, to free their room.
    """
    header_key = cache_header_key(request, key_prefix, settings=settings)
    index_key = header_key + _VARIANTS_SUFFIX
    try:
        known = yield ("get", (index_key, None))
        listed = known if isinstance(known, list) else []
        source = _global_settings if settings is None else settings
        now = time.time()
        lifetime = max(
            [GENERATION_LIFETIME, float(source.CACHE_MIDDLEWARE_SECONDS)]
            + [expires - now for _, expires in listed if isinstance(expires, (int, float))]
        )
        yield ("set", (generation_key(request, key_prefix), uuid.uuid4().hex, lifetime))
        yield ("delete_many", ([header_key, index_key, *(k for k, _ in listed)], None))
    except Exception:
        _log_failure("invalidation", "page cache invalidation failed for %s", request.path)
