"""GET /api/health and GET /metrics.

Health answers which parts are reachable, nothing more (no versions, hosts or
error texts), so it needs no token. /metrics is open to METRICS_ALLOWED_IPS and
to a bearer METRICS_TOKEN.
"""

import hmac
import logging
import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponseForbidden
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from kombu import Connection
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

# Imported here so the web process defines the metrics and /metrics shows them from the start.
from integrations import metrics as _metrics  # noqa: F401

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "health:worker-heartbeat"


def worker_heartbeat_record(now=None):
    """Called by the worker (beat task and worker start): 'a worker was alive at this time'."""
    cache.set(HEARTBEAT_KEY, now if now is not None else time.time(), timeout=None)


def check_database():
    connection.ensure_connection()
    if not connection.is_usable():
        raise ConnectionError("database connection is not usable")


def check_cache():
    key, value = f"health:probe:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=30)
    try:
        if cache.get(key) != value:
            raise ConnectionError("cache did not return what was stored")
    finally:
        cache.delete(key)


def check_broker():

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    with Connection(settings.CELERY_BROKER_URL, transport_options=options, connect_timeout=3) as conn:
        conn.ensure_connection(max_retries=1, timeout=3)


def check_worker():
    beat = cache.get(HEARTBEAT_KEY)
    if beat is None:
        return {"ok": False, "heartbeat_age_seconds": None}
    age = max(0, int(time.time() - float(beat)))
    return {"ok": age <= settings.WORKER_HEARTBEAT_MAX_AGE, "heartbeat_age_seconds": age}


def _probe(check):
    try:
        result = check()
    except Exception as error:  # any failure means "down"; only its kind is logged
        logger.warning("health check %s failed: %s", check.__name__, type(error).__name__)
        return {"ok": False}
    return result if isinstance(result, dict) else {"ok": True}


class HealthApi(APIView):
    """No token, no rate limit: a load balancer or monitor polls it, and it reveals only up or down."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema_serializer(component_name="HealthOutput")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="HealthCheck")
        class Check(serializers.Serializer):
            ok = serializers.BooleanField()
            heartbeat_age_seconds = serializers.IntegerField(
                required=False, allow_null=True, help_text="worker only: seconds since its last heartbeat"
            )

        status = serializers.ChoiceField(choices=["ok", "unavailable"])
        checks = serializers.DictField(child=Check(), help_text="database, cache, broker and worker")

    @extend_schema(
        operation_id="health",
        summary="Whether the database, cache, broker and a worker are reachable",
        responses={200: OutputSerializer, 503: OutputSerializer},
    )
    def get(self, request):
        checks = {
            "database": _probe(check_database),
            "cache": _probe(check_cache),
            "broker": _probe(check_broker),
        }
        worker_down = {"ok": False, "heartbeat_age_seconds": None}
        checks["worker"] = _probe(check_worker) if checks["cache"]["ok"] else worker_down
        healthy = all(check["ok"] for check in checks.values())
        response = Response(
            {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
        )
        add_never_cache_headers(response)
        return response


health = HealthApi.as_view()


def metrics_allowed(request):
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
        return True
    return request.META.get("REMOTE_ADDR", "") in settings.METRICS_ALLOWED_IPS


@never_cache
@require_GET
def metrics(request):
    if not metrics_allowed(request):
        return HttpResponseForbidden("Metrics are open to METRICS_ALLOWED_IPS or a METRICS_TOKEN.\n")
    return ExportToDjangoView(request)
