"""File-system cache: ``FileBasedCache``, one signed file per key.

``backend`` holds the cache, ``store`` the directory layout, locks and entry
counts, ``spares`` the pool of recycled temp files, ``owners`` which process a
temp file belongs to and whether it is gone.
"""

from .backend import FileBasedCache

__all__ = ["FileBasedCache"]
