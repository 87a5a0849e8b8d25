"""Keys of cached template fragments: the same strings Django 6.1 makes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Final

__all__ = ["make_template_fragment_key"]

# The digest when nothing varies, so the common case hashes nothing.
_NOTHING_VARIES: Final = hashlib.md5(b"", usedforsecurity=False).hexdigest()


def make_template_fragment_key(fragment_name: str, vary_on: Iterable[Any] | None = None) -> str:
    """The raw key the ``{% cache %}`` tag stores ``fragment_name`` under for these vary-on values.

    Pass it to ``cache.delete`` to invalidate that copy of the fragment.  Each
    value counts as ``str(value)``, so ``None`` and ``"None"`` share a copy.
    """
    if not vary_on:
        return f"template.cache.{fragment_name}.{_NOTHING_VARIES}"
    hasher = hashlib.md5(usedforsecurity=False)
    update = hasher.update
    for value in vary_on:
        data = str(value).encode()
        # Length-prefixed, so ["a:b", "c"] and ["a", "b:c"] differ (Django 6.1; 5.2 collides).
        update(b"%d:%s," % (len(data), data))
    return f"template.cache.{fragment_name}.{hasher.hexdigest()}"
