"""Cache backends: ``base`` holds the contract, each other module one backend.

Backends that need an optional client library import it inside their own
module, so importing this package needs no extras.
"""

from .base import DEFAULT_TIMEOUT, BaseCache

__all__ = ["DEFAULT_TIMEOUT", "BaseCache"]
