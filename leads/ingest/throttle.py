"""Requests per write key, counted in the cache's Redis (so every web
process shares the count) in fixed windows: one increment a request, where
DRF's throttles keep and rewrite a list of every request's time.

This module owns its Redis client, made from the cache's settings (as
Sentry's ratelimits/redis.py owns its own), so it never reaches into the
cache backend's private attributes; without a Redis cache it counts in the
cache itself."""

import functools
import logging
import math
import time
from typing import cast

import redis
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
KEY = "ingest:throttle:{}:{}"


def ingest_rate() -> str | None:
    """REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["ingest"], e.g. "6000/minute"."""
    return cast(dict, settings.REST_FRAMEWORK).get("DEFAULT_THROTTLE_RATES", {}).get("ingest")


def parse_rate(rate: str) -> tuple[int, int]:
    """"6000/minute" -> (6000, 60), as DRF reads rates (only the period's first letter counts)."""
    number, period = rate.split("/")
    return int(number), PERIODS[period.strip()[0].lower()]


def seconds_to_wait(key: str, *, rate: str | None = None, now: float | None = None) -> int | None:
    """Count one request for `key`; None when it is within the rate, else the
    seconds until the window ends (for Retry-After). A cache that cannot be
    reached lets the request through: ingestion matters more than the limit."""
    rate = ingest_rate() if rate is None else rate
    if not rate:
        return None
    allowed, duration = parse_rate(rate)
    now = time.time() if now is None else now
    window = int(now // duration)
    counter = KEY.format(key, window)
    try:
        count = count_request(counter, timeout=duration + 1)
    except (RedisError, ValueError):
        log.warning("Ingest throttle unavailable; letting the request through", exc_info=True)
        return None
    if count <= allowed:
        return None
    return max(1, math.ceil((window + 1) * duration - now))


def count_request(counter: str, *, timeout: int) -> int:
    """Add one to the window's count and return it. On Redis one round trip
    (Django's cache.incr takes two, EXISTS then INCR, and every batch pays
    for it); elsewhere the cache's own atomic increment."""
    client = redis_client()
    if client is not None:
        key = cache.make_key(counter)  # where the cache would keep it
        with client.pipeline(transaction=False) as pipe:
            pipe.set(key, 0, ex=timeout, nx=True)
            pipe.incr(key)
            return pipe.execute()[1]
    try:
        return cache.incr(counter)
    except ValueError:  # the window's first request
        return 1 if cache.add(counter, 1, timeout=timeout) else cache.incr(counter)


REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


def redis_client() -> redis.Redis | None:
    """The client for the default cache's Redis (its first server, where
    the cache writes), or None when the cache is not on Redis."""
    config = settings.CACHES[DEFAULT_CACHE_ALIAS]
    if config.get("BACKEND") != REDIS_CACHE:
        return None
    location = config["LOCATION"]
    if not isinstance(location, str):
        location = location[0]
    options = config.get("OPTIONS", {})
    return _connect(
        location.split(",")[0].strip(),
        connect_timeout=options.get("socket_connect_timeout", 1),
        timeout=options.get("socket_timeout", 1),
    )


@functools.cache
def _connect(url: str, *, connect_timeout: float, timeout: float) -> redis.Redis:
    """One client (and connection pool) per process and server."""
    return redis.Redis.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=timeout)
