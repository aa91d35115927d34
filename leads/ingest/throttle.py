"""Requests per write key, counted in the cache (Redis when configured, so
every web process shares the count) in fixed windows: one increment a request,
where DRF's throttles keep and rewrite a list of every request's time."""

import logging
import math
import time
from typing import cast

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
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
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        key = backend.make_and_validate_key(counter)
        # The backend's own client and pool (RedisCache keeps them as _cache).
        with backend._cache.get_client(key, write=True).pipeline(transaction=False) as pipe:  # type: ignore[attr-defined]
            pipe.set(key, 0, ex=timeout, nx=True)
            pipe.incr(key)
            return pipe.execute()[1]
    try:
        return cache.incr(counter)
    except ValueError:  # the window's first request
        return 1 if cache.add(counter, 1, timeout=timeout) else cache.incr(counter)
