"""DRF's rate throttles, open when the cache (Redis) cannot be reached: reading
leads matters more than the limit, and an outage must not turn into 500s."""

import logging

from redis.exceptions import RedisError
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

log = logging.getLogger(__name__)


class FailOpen:
    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except RedisError:
            log.warning("API throttle unavailable; letting the request through", exc_info=True)
            return True


class AnonThrottle(FailOpen, AnonRateThrottle):
    pass


class UserThrottle(FailOpen, UserRateThrottle):
    pass


class LoginThrottle(FailOpen, SimpleRateThrottle):
    """Password guesses at /api/token/: per client address, whoever is signed in."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
