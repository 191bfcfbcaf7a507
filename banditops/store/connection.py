"""The Redis client types and errors, named here so that only ``banditops.store`` imports ``redis``.

The services build their clients and catch Redis's errors through these names (the same
objects as redis-py's), so the import rule "only ``store/`` imports ``redis``" holds for the
whole project (``tests/unit/test_layering.py``).
"""

from __future__ import annotations

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

Redis = redis.Redis
AsyncRedis = redis.asyncio.Redis
PubSub = redis.client.PubSub
RedisError = redis.RedisError
#: redis-py's ``ConnectionError`` and ``TimeoutError`` (renamed: they would shadow the builtins).
RedisConnectionError = redis.ConnectionError
RedisTimeoutError = redis.TimeoutError

__all__ = ["AsyncRedis", "AsyncRetry", "ExponentialBackoff", "PubSub", "Redis", "RedisConnectionError",
           "RedisError", "RedisTimeoutError", "Retry"]
