"""Isolating stored values from the caller without paying pickle when it is not needed.

A cache must hand back a value that later mutation of the caller's object
cannot reach (Django gets this by pickling everything).  Immutable values need
no copy at all, and a dict or list whose members are all immutable needs only
a shallow copy, which is many times cheaper than a pickle round trip.
Everything else is pickled.
"""

from __future__ import annotations

import datetime
import decimal
import fractions
import pickle
import uuid
import zoneinfo
from typing import Any

AS_IS = 0
SHALLOW = 1
PICKLED = 2

#: Types whose instances are immutable: stored and handed out as they are.
SCALARS = frozenset({
    str, bytes, int, float, bool, complex, type(None),
    decimal.Decimal, fractions.Fraction, uuid.UUID,
    datetime.date, datetime.timedelta,
})  # fmt: skip
#: Types with a ``tzinfo`` that are immutable only when their tzinfo is.
_ZONED = frozenset({datetime.datetime, datetime.time})
#: tzinfo types known to be immutable.  Any other tzinfo (a user's subclass,
#: say) may carry state the caller can change, so its values are pickled.
_FIXED_ZONES = frozenset({type(None), datetime.timezone, zoneinfo.ZoneInfo})
_PROTOCOL = pickle.HIGHEST_PROTOCOL


def _immutable(value: Any) -> bool:
    kind = type(value)
    if kind in SCALARS:
        return True
    if kind in _ZONED:
        return type(value.tzinfo) in _FIXED_ZONES
    if kind is tuple or kind is frozenset:
        return _all_immutable(value)
    return False


def _all_immutable(items: Any) -> bool:
    """True when no item can change; ``items`` must be iterable twice (a collection or a view)."""
    # The C-speed check settles flat records at once; the loop handles nested
    # tuples and gives up at the first mutable item (then the value is pickled).
    if SCALARS.issuperset(map(type, items)):
        return True
    return all(map(_immutable, items))


def freeze(value: Any) -> tuple[int, Any]:
    """Return ``(kind, payload)``: what to keep so :func:`thaw` can hand out a private copy."""
    kind = type(value)
    if kind in SCALARS:
        return AS_IS, value
    if kind is dict:
        if _all_immutable(value.values()) and _all_immutable(value):
            return SHALLOW, value.copy()
    elif kind is list:
        if _all_immutable(value):
            return SHALLOW, value.copy()
    elif _immutable(value):
        return AS_IS, value
    return PICKLED, pickle.dumps(value, _PROTOCOL)


def thaw(kind: int, payload: Any) -> Any:
    """The caller's copy of a value kept by :func:`freeze`."""
    if kind == AS_IS:
        return payload
    if kind == SHALLOW:
        return payload.copy()
    return pickle.loads(payload)
