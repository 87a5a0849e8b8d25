"""The page cache: HTTP-aware caching for any WSGI or ASGI app (docs/http.md).

A protocol-free core (``messages``, ``headers``, ``policy``, ``keys``,
``i18n``, ``core``) holds every decision; the WSGI and ASGI adapters
(``cachemere.http.wsgi``, ``cachemere.http.asgi``, same class names in each)
only translate requests and responses and call the app.  This package
exports Django's header helpers and view decorators.
"""

from .decorators import cache_control, cache_page, never_cache, vary_on_cookie, vary_on_headers
from .headers import (
    add_never_cache_headers,
    get_max_age,
    has_vary_header,
    patch_cache_control,
    patch_response_headers,
    patch_vary_headers,
)
from .keys import aget_cache_key, alearn_cache_key, get_cache_key, learn_cache_key
from .messages import Headers, Request

__all__ = [
    "Headers",
    "Request",
    "add_never_cache_headers",
    "aget_cache_key",
    "alearn_cache_key",
    "cache_control",
    "cache_page",
    "get_cache_key",
    "get_max_age",
    "has_vary_header",
    "learn_cache_key",
    "never_cache",
    "patch_cache_control",
    "patch_response_headers",
    "patch_vary_headers",
    "vary_on_cookie",
    "vary_on_headers",
]
