"""The page cache: HTTP-aware caching for any WSGI or ASGI app (docs/http.md).

A protocol-free core (``messages``, ``headers``, ``policy``, ``keys``,
``i18n``) holds every decision; the WSGI and ASGI adapters only translate
requests and responses and call the app.
"""
