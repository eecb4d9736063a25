"""Login lockout (django-axes): the address a lockout counts, and the answer a locked-out login gets.

Settings (AXES_CLIENT_IP_CALLABLE, AXES_LOCKOUT_CALLABLE) name the two functions below.
"""

import ipaddress

from axes.helpers import get_cool_off
from axes.signals import user_locked_out
from django.conf import settings
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import render


def _valid_ip(value):
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request):
    """REMOTE_ADDR, or behind the TLS proxy the address that proxy appended to X-Forwarded-For.

    Only the last hop is trusted: everything left of it was written by the client.
    """
    if settings.SECURE_PROXY_SSL_HEADER:
        hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        forwarded = _valid_ip(hops[-1])
        if forwarded:
            return forwarded
    return _valid_ip(request.META.get("REMOTE_ADDR", "")) or "0.0.0.0"  # noqa: S104 (a record key, not a bind)


def lockout_response(request, original_response=None, credentials=None):
    """429 with Retry-After: JSON in the API's error shape for /api/..., a page for the web login."""
    wait = get_cool_off(request)
    minutes = max(1, round(wait.total_seconds() / 60))
    message = f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    if request.path.startswith("/api/"):
        error = {"field": None, "message": message}
        response = JsonResponse({**error, "detail": message, "code": "login_locked_out", "errors": [error]}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(int(wait.total_seconds()))
    return response


@receiver(user_locked_out)
def flag_the_django_request(sender, request, **kwargs):
    """Carry axes' lockout flag from DRF's Request to Django's, where AxesMiddleware looks for it.

    simplejwt's token view authenticates with DRF's Request, which keeps attributes set on it
    to itself; without this the API would answer a locked-out login with a plain 401.
    """
    inner = getattr(request, "_request", None)
    if inner is not None and inner is not request:
        inner.axes_locked_out = True
        inner.axes_credentials = getattr(request, "axes_credentials", None)
