"""The Redis client types and errors, named here so that only ``banditops.store`` imports ``redis``."""

from __future__ import annotations

import redis
import redis.asyncio

Redis = redis.Redis
AsyncRedis = redis.asyncio.Redis
PubSub = redis.client.PubSub
RedisError = redis.RedisError
