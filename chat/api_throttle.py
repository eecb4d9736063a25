"""The API's rate limit. Its own module: DRF imports it while building APIView."""

from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class ApiRateThrottle(UserRateThrottle):
    """settings.API_RATE_LIMIT per user (per address before login), counted in the default cache,
    so every web process shares one count when REDIS_URL is set."""

    scope = "api"

    def get_rate(self):
        return settings.API_RATE_LIMIT


def throttle_cache_key(ident):
    """The cache key counting `ident`'s requests (a user's pk, or an address before login)."""
    return ApiRateThrottle.cache_format % {"scope": ApiRateThrottle.scope, "ident": ident}
