"""Page-cache keys: Django 6.1's scheme, exactly, made from a :class:`~cachemere.http.messages.Request`.

A page is stored under ``views.decorators.cache.cache_page.<prefix>.<method>.
<md5 of the URL>.<md5 of the varying request headers>`` (plus ``.<language>``
under ``USE_I18N`` and ``.<time zone>`` under ``USE_TZ``).  Which request
headers vary is learnt from the response's ``Vary`` and kept once per URL
under ``views.decorators.cache.cache_header.<prefix>.<md5 of the URL>``: the
last response stored for a URL decides for all its variants, as in Django.
Nothing outside that list, and nothing but the request's trusted host, path
and query, reaches a key.

Learning and looking up the header list are :data:`~cachemere.backends.base.Logic`
generators, run by :func:`~cachemere.backends.base.drive` or ``adrive``, so
sync and async share them; :func:`learn_cache_key` and :func:`get_cache_key`
(and their ``a``-twins) are Django's public functions built on them.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from ..backends.base import BaseCache, Logic, adrive, drive
from ..conf import settings as _global_settings
from . import i18n
from .messages import Headers, Request, headers_of

if TYPE_CHECKING:
    from ..conf import SettingsSource

__all__ = [
    "aget_cache_key",
    "alearn_cache_key",
    "cache_header_key",
    "cache_page_key",
    "generation_key",
    "get_cache_key",
    "get_cache_key_logic",
    "header_list_for",
    "learn_cache_key",
    "learn_cache_key_logic",
    "lookup_logic",
]

_HEADER_KEY: Final = "views.decorators.cache.cache_header."
_PAGE_KEY: Final = "views.decorators.cache.cache_page."
# md5 of nothing: the header digest when nothing varies, so that case hashes nothing.
_NOTHING_VARIES: Final = hashlib.md5(b"", usedforsecurity=False).hexdigest()
# What an absent header hashes as: no netstring starts with "-", so absent never equals empty.
_ABSENT: Final = b"-,"
# Django's escape_uri_path (RFC 2396 reserved and unreserved, less ";", "=" and "?")
# and iri_to_uri safe sets, so the URL hashed is the one Django builds.
_PATH_SAFE: Final = "/:@&+$,-_.!~*'()"
_IRI_SAFE: Final = "/#%[]=:;$&()+,!?*@'~"
_ALWAYS_SAFE: Final = string.ascii_letters + string.digits + "_.-~"
_PATH_UNCHANGED: Final = _ALWAYS_SAFE + _PATH_SAFE
_IRI_UNCHANGED: Final = _ALWAYS_SAFE + _IRI_SAFE


def _settings(settings: SettingsSource | None) -> SettingsSource:
    return _global_settings if settings is None else settings


def _quoted(text: str, safe: str, unchanged: str) -> str:
    # Most paths and queries need no escaping: skip quote()'s encode and byte loop then.
    return text if not text.rstrip(unchanged) else quote(text, safe=safe)


def _url_digest(request: Request) -> str:
    """md5 of the URL Django's ``build_absolute_uri()`` gives for this request.

    Unlike Django, dot segments (``/a/../b``) are kept as the router saw them:
    resolving them would file a page under another path's key.
    """
    query = request.query_string
    url = (
        f"{request.scheme}://{_quoted(request.host, _IRI_SAFE, _IRI_UNCHANGED)}"
        f"{_quoted(request.path, _PATH_SAFE, _PATH_UNCHANGED)}"
    )
    if query:
        url += "?" + _quoted(query, _IRI_SAFE, _IRI_UNCHANGED)
    return hashlib.md5(url.encode("ascii"), usedforsecurity=False).hexdigest()


def _suffix(settings: SettingsSource, request: Request) -> str:
    """``.<language>`` under USE_I18N, then ``.<time zone>`` under USE_TZ (Django's order).

    The request's own ``language``/``timezone`` win over the active ones, as
    Django's ``request.LANGUAGE_CODE`` does (see :func:`pin_locale`).
    """
    suffix = ""
    if settings.USE_I18N:
        suffix += "." + (request.language or i18n.get_language(settings))
    if settings.USE_TZ:
        suffix += "." + (request.timezone or i18n.get_current_timezone_name(settings))
    return suffix


def pin_locale(request: Request, *, settings: SettingsSource | None = None) -> None:
    """Record on ``request`` the language and time zone active now, for the keys made later.

    The fetch phase runs inside a locale middleware's ``override``; the update
    phase of an outer layer may run after that context has ended, and must
    key the page as the fetch did.
    """
    settings = _settings(settings)
    if settings.USE_I18N and request.language is None:
        request.language = i18n.get_language(settings)
    if settings.USE_TZ and request.timezone is None:
        request.timezone = i18n.get_current_timezone_name(settings)


def _header_digest(headers: Headers, header_list: Sequence[str], generation: str | None = None) -> str | None:
    """md5 over the netstrings of the listed request headers; None if the list is not a list of names.

    A URL that was invalidated has a ``generation``, hashed in last: a page stored before the
    invalidation (or by a request that arrived before it) is then under a key no lookup makes.
    Never invalidated, the digest is Django's.
    """
    if not header_list and generation is None:
        return _NOTHING_VARIES
    hasher = hashlib.md5(usedforsecurity=False)
    update = hasher.update
    for name in header_list:
        if type(name) is not str:
            return None
        # "HTTP_ACCEPT_ENCODING" names the Accept-Encoding header (looked up case-insensitively).
        field = (name[5:] if name.startswith("HTTP_") else name).replace("_", "-")
        value = headers.get(field)
        if value is None:
            update(_ABSENT)
        else:
            data = value.encode()
            update(b"%d:%s," % (len(data), data))
    if generation is not None:
        update(b"generation:" + generation.encode())
    return hasher.hexdigest()


def _page_key(
    request: Request,
    method: str,
    header_list: Sequence[str],
    key_prefix: str,
    url_digest: str,
    suffix: str,
    generation: str | None = None,
) -> str | None:
    digest = _header_digest(request.headers, header_list, generation)
    if digest is None:
        return None
    return f"{_PAGE_KEY}{key_prefix}.{method}.{url_digest}.{digest}{suffix}"


#: Where a URL's generation is kept: per URL and prefix, for every language and time zone at once.
_GENERATION_SUFFIX: Final = ":generation"


def generation_key(request: Request, key_prefix: str) -> str:
    """The raw key of the generation of ``request``'s URL, set when an unsafe method invalidates it."""
    return f"{_HEADER_KEY}{key_prefix}.{_url_digest(request)}{_GENERATION_SUFFIX}"


def _generation(value: Any) -> str | None:
    # Anything but a str is not ours: as if the URL had never been invalidated.
    return value if type(value) is str else None


class _Unread:
    """The generation was not read with the lookup: :func:`learn_cache_key_logic` reads it."""


#: Default of learn_cache_key_logic's ``generation``: read it now.
READ_GENERATION: Final = _Unread()


def cache_header_key(request: Request, key_prefix: str, *, settings: SettingsSource | None = None) -> str:
    """The raw key the header list of ``request``'s URL is kept under."""
    return f"{_HEADER_KEY}{key_prefix}.{_url_digest(request)}{_suffix(_settings(settings), request)}"


def cache_page_key(
    request: Request,
    method: str,
    header_list: Sequence[str],
    key_prefix: str,
    *,
    settings: SettingsSource | None = None,
) -> str:
    """The raw key the page for ``request`` is kept under, for this ``method`` and header list."""
    suffix = _suffix(_settings(settings), request)
    key = _page_key(request, method, header_list, key_prefix, _url_digest(request), suffix)
    if key is None:
        raise TypeError(f"header_list must be a sequence of header names, got {header_list!r}")
    return key


def header_list_for(vary: str | None, *, settings: SettingsSource | None = None) -> list[str]:
    """The sorted request-header names (``"HTTP_ACCEPT_ENCODING"``) a ``Vary`` value makes a page vary on.

    ``Accept-Language`` is dropped under ``USE_I18N``: the language is in the key already.
    """
    if not vary:
        return []
    skip_language = bool(_settings(settings).USE_I18N)
    names = []
    for token in vary.split(","):
        token = token.strip()
        if not token:
            continue
        name = token.upper().replace("-", "_")
        if skip_language and name == "ACCEPT_LANGUAGE":
            continue
        names.append("HTTP_" + name)
    names.sort()
    return names


def _vary_of(response_headers: Any) -> str | None:
    """Every ``Vary`` field of a header map, joined (werkzeug's and Starlette's ``get`` give the first)."""
    if isinstance(response_headers, Headers):
        return response_headers.get("Vary")  # type: ignore[no-any-return]
    for method in ("getlist", "get_all"):
        get_all = getattr(response_headers, method, None)
        if callable(get_all):
            values = get_all("Vary")
            return ", ".join(values) if values else None
    value = response_headers.get("Vary")
    return None if value is None else str(value)


def learn_cache_key_logic(
    request: Request,
    response_headers: Headers,
    cache_timeout: float | None,
    key_prefix: str,
    *,
    settings: SettingsSource | None = None,
    generation: str | _Unread | None = READ_GENERATION,
) -> Logic[str]:
    """Store the header list the response's ``Vary`` implies for the URL; answer the page's key.

    Yields a ``("get", (generation_key,))`` step unless ``generation`` (the URL's, as
    :func:`lookup_logic` read it when the request arrived) is given, then one
    ``("set", (header_key, header_list, timeout))``; ``cache_timeout`` None means
    ``CACHE_MIDDLEWARE_SECONDS``.  The key is for ``request.method``.
    """
    return _learn(
        request, _vary_of(response_headers), cache_timeout, key_prefix, _settings(settings), generation
    )


def _learn(
    request: Request,
    vary: str | None,
    cache_timeout: float | None,
    key_prefix: str,
    settings: SettingsSource,
    generation: str | _Unread | None = READ_GENERATION,
) -> Logic[str]:
    if cache_timeout is None:
        cache_timeout = settings.CACHE_MIDDLEWARE_SECONDS
    url_digest = _url_digest(request)
    suffix = _suffix(settings, request)
    header_list = header_list_for(vary, settings=settings)
    if isinstance(generation, _Unread):
        generation = _generation(
            (yield ("get", (f"{_HEADER_KEY}{key_prefix}.{url_digest}{_GENERATION_SUFFIX}",)))
        )
    yield ("set", (f"{_HEADER_KEY}{key_prefix}.{url_digest}{suffix}", header_list, cache_timeout))
    key = _page_key(request, request.method, header_list, key_prefix, url_digest, suffix, generation)
    assert key is not None  # header_list_for makes only names
    return key


def lookup_logic(
    request: Request, key_prefix: str, method: str = "GET", *, settings: SettingsSource | None = None
) -> Logic[tuple[str | None, str | None]]:
    """The page key for ``request`` and ``method`` (None: nothing learnt), and the URL's generation.

    Yields one ``("get_many", ([header_key, generation_key],))`` step: one round trip.
    """
    settings = _settings(settings)
    url_digest = _url_digest(request)
    suffix = _suffix(settings, request)
    header_key = f"{_HEADER_KEY}{key_prefix}.{url_digest}{suffix}"
    generation_key = f"{_HEADER_KEY}{key_prefix}.{url_digest}{_GENERATION_SUFFIX}"
    found = yield ("get_many", ([header_key, generation_key],))
    generation = _generation(found.get(generation_key))
    header_list = found.get(header_key)
    # Anything but a list (tuple) of names is not ours to trust: treat it as not learnt.
    if type(header_list) is not list and type(header_list) is not tuple:
        return None, generation
    return _page_key(request, method, header_list, key_prefix, url_digest, suffix, generation), generation


def get_cache_key_logic(
    request: Request, key_prefix: str, method: str = "GET", *, settings: SettingsSource | None = None
) -> Logic[str | None]:
    """The page key for ``request`` and ``method`` from the URL's stored header list.

    None means nothing was learnt for the URL (or what is stored there is not a
    header list): the page must be rebuilt.  The steps are :func:`lookup_logic`'s.
    """
    key, _ = yield from lookup_logic(request, key_prefix, method, settings=settings)
    return key


# -- Django's public functions -------------------------------------------------


def _cache(cache: BaseCache | str | None, settings: SettingsSource) -> BaseCache:
    if cache is None or isinstance(cache, str):
        from ..handler import caches

        return caches[settings.CACHE_MIDDLEWARE_ALIAS if cache is None else cache]
    return cache


def _prefix(key_prefix: str | None, settings: SettingsSource) -> str:
    return str(settings.CACHE_MIDDLEWARE_KEY_PREFIX) if key_prefix is None else key_prefix


def _learning(
    request: Request,
    response: Any,
    cache_timeout: float | None,
    key_prefix: str | None,
    cache: BaseCache | str | None,
    settings: SettingsSource | None,
) -> tuple[BaseCache, Logic[str]]:
    """The cache and the logic behind learn_cache_key and its async twin."""
    settings = _settings(settings)
    vary = _vary_of(headers_of(response))
    logic = _learn(request, vary, cache_timeout, _prefix(key_prefix, settings), settings)
    return _cache(cache, settings), logic


def _lookup(
    request: Request,
    key_prefix: str | None,
    method: str,
    cache: BaseCache | str | None,
    settings: SettingsSource | None,
) -> tuple[BaseCache, Logic[str | None]]:
    """The cache and the logic behind get_cache_key and its async twin."""
    settings = _settings(settings)
    logic = get_cache_key_logic(request, _prefix(key_prefix, settings), method, settings=settings)
    return _cache(cache, settings), logic


def learn_cache_key(
    request: Request,
    response: Any,
    cache_timeout: float | None = None,
    key_prefix: str | None = None,
    cache: BaseCache | str | None = None,
    *,
    settings: SettingsSource | None = None,
) -> str:
    """Remember which request headers the response varies on for its URL; return the page key.

    ``response`` is anything with ``.headers`` or a header map.  Defaults as
    Django's: ``CACHE_MIDDLEWARE_SECONDS``, ``CACHE_MIDDLEWARE_KEY_PREFIX`` and
    the ``CACHE_MIDDLEWARE_ALIAS`` cache (``cache`` may be an instance or an alias).
    """
    return drive(*_learning(request, response, cache_timeout, key_prefix, cache, settings))


def get_cache_key(
    request: Request,
    key_prefix: str | None = None,
    method: str = "GET",
    cache: BaseCache | str | None = None,
    *,
    settings: SettingsSource | None = None,
) -> str | None:
    """The key the page for ``request`` would be stored under, or None if its URL was never learnt."""
    return drive(*_lookup(request, key_prefix, method, cache, settings))


async def alearn_cache_key(
    request: Request,
    response: Any,
    cache_timeout: float | None = None,
    key_prefix: str | None = None,
    cache: BaseCache | str | None = None,
    *,
    settings: SettingsSource | None = None,
) -> str:
    """:func:`learn_cache_key` through the cache's async methods."""
    return await adrive(*_learning(request, response, cache_timeout, key_prefix, cache, settings))


async def aget_cache_key(
    request: Request,
    key_prefix: str | None = None,
    method: str = "GET",
    cache: BaseCache | str | None = None,
    *,
    settings: SettingsSource | None = None,
) -> str | None:
    """:func:`get_cache_key` through the cache's async methods."""
    return await adrive(*_lookup(request, key_prefix, method, cache, settings))
