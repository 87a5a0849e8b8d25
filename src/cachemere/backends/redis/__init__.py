"""Redis cache: ``RedisCache`` on redis-py, native async.

``backend`` holds the cache and its drivers, ``ops`` every operation written
once as a generator of redis commands, ``config`` the checked settings,
``pools`` the connections, ``signed`` value signing, ``compat`` the private
redis-py names.
"""

from .backend import RedisCache, RedisSerializer

__all__ = ["RedisCache", "RedisSerializer"]
