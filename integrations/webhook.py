"""Meta's webhook: the verification handshake and signed deliveries.

A delivery is checked, stored exactly as received (integrations.models.WebhookEvent)
and answered at once; integrations.inbound processes it later in the worker. Meta
retries anything that is not a 200 for days, so a delivery that cannot be stored is
answered 503 (retry later) and never 200. No input gets a 500.
"""

import hashlib
import hmac
import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from integrations import tasks
from integrations.models import WebhookEvent

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "HTTP_X_HUB_SIGNATURE_256"


def _text(body, status):
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


def signature_valid(raw, header, secret):
    """Whether `header` is "sha256=" + the HMAC-SHA256 of `raw` under `secret`, compared in constant time."""
    if not header or not secret:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode("utf-8", "replace"))


def _verify(request):
    """Meta's handshake: echo hub.challenge when hub.verify_token is ours."""
    token = settings.WHATSAPP_WEBHOOK_VERIFY_TOKEN
    mode = request.GET.get("hub.mode", "")
    given = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    if (
        mode == "subscribe"
        and token
        and hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())
        and challenge
    ):
        return _text(challenge[:512], 200)
    logger.warning("Webhook verification refused (mode=%r)", mode[:20])
    return _text("Verification failed", 403)


def _read_body(request):
    """The raw body, or an error response; never more than WHATSAPP_WEBHOOK_MAX_BYTES is read.

    Reads the stream itself rather than request.body, so Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE can never turn a large delivery into a 400.
    """
    limit = settings.WHATSAPP_WEBHOOK_MAX_BYTES
    if not request.META.get("CONTENT_LENGTH"):
        # Django reads no body without a length; Meta always sends one.
        return None, _text("Content-Length required", 411)
    try:
        length = int(request.META["CONTENT_LENGTH"])
    except ValueError:
        return None, _text("Invalid Content-Length", 400)
    if length > limit:
        return None, _text("Delivery too large", 413)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        return None, _text("Delivery too large", 413)
    return raw, None


def _store(raw, *, signed):
    """Keep the delivery, then wake a worker to process it.

    The INSERT runs in autocommit: one round trip, committed before the 200 (no
    BEGIN/COMMIT around it). The wake is one cache round trip, and a Celery message only
    when no worker is already queued or draining (tasks.webhook_wake), so a burst of
    deliveries costs one message, not one each. With no transaction open, on_commit runs at once.
    """
    event = WebhookEvent.objects.create(body=raw, signed=signed)
    transaction.on_commit(tasks.webhook_wake)
    return event


def _receive(request):
    raw, error = _read_body(request)
    if error is not None:
        return error
    secret = settings.WHATSAPP_APP_SECRET
    header = request.META.get(SIGNATURE_HEADER, "")
    if secret:
        if not signature_valid(raw, header, secret):
            logger.warning("Webhook delivery refused: %s signature", "wrong" if header else "missing")
            return _text("Invalid signature", 401)
        signed = True
    elif settings.DEBUG:
        logger.warning("WHATSAPP_APP_SECRET is empty: accepting an unsigned webhook delivery (DEBUG only)")
        signed = False
    else:
        # Nothing can be verified; 503 makes Meta keep the delivery and retry once the secret is set.
        logger.error("WHATSAPP_APP_SECRET is not set: webhook deliveries are refused until it is")
        return _text("Webhook not configured", 503)
    event = _store(raw, signed=signed)
    logger.info("Webhook event %s stored (%d bytes)", event.pk, len(raw))
    return _text("OK", 200)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request):
    if request.method == "GET":
        return _verify(request)
    try:
        return _receive(request)
    except Exception:
        # A database outage (or anything unforeseen) while storing: nothing was
        # acknowledged, so Meta retries the delivery later. Never a 500.
        logger.exception("Webhook delivery could not be stored; answering 503 so Meta retries")
        response = _text("Temporarily unavailable", 503)
        response["Retry-After"] = "60"
        return response
