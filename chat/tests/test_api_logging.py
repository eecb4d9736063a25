"""No message content, names or full phone numbers in logs, at any level."""

import hashlib
import hmac
import json
import logging

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from chat.models import Message, MessageTemplate
from integrations.inbound import process_webhook_event
from integrations.models import WebhookEvent
from integrations.tests.conftest import load_fixture
from madio_whatsapp.logging import MaskPhonesFilter, install, mask_phones

MARKER = "zq-marker-7731"
PHONE = "+919876543210"


def emitted(record):
    """The line a configured handler writes: the record after the phone-masking filter."""
    MaskPhonesFilter().filter(record)
    text = logging.Formatter("%(name)s %(message)s").format(record)
    return text


@pytest.mark.django_db
def test_it_logs_no_content_while_sending_and_receiving(
    api_client, client, enqueued, caplog, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    caplog.set_level(logging.DEBUG)
    for name in ("django", "django.request", "django.db.backends", "celery", "integrations", "chat"):
        caplog.set_level(logging.DEBUG, logger=name)
    MessageTemplate.objects.create(
        name="hello", language="en", status="APPROVED", components=[{"type": "BODY", "text": "Hi {{1}}"}]
    )

    # A customer writes, with the marker in their name and text: Meta's signed delivery through
    # the webhook, then the worker's processing that stores the message.
    settings.WHATSAPP_APP_SECRET = "marker-test-secret"
    delivery = load_fixture("text_message")
    value = delivery["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["profile"]["name"] = f"Name {MARKER}"
    value["messages"][0]["text"]["body"] = f"Order {MARKER}"
    value["messages"][0]["timestamp"] = str(int(timezone.now().timestamp()))
    body = json.dumps(delivery).encode()
    signature = "sha256=" + hmac.new(b"marker-test-secret", body, hashlib.sha256).hexdigest()
    with django_capture_on_commit_callbacks(execute=False):
        stored = client.post(
            reverse("integrations:webhook"),
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signature,
        )
    assert stored.status_code == 200
    process_webhook_event(WebhookEvent.objects.latest("pk").pk)
    assert Message.objects.get(direction="inbound").message_body == f"Order {MARKER}"

    with django_capture_on_commit_callbacks(execute=True):
        sends = [
            api_client.post(
                "/api/whatsapp/send-message", {"to_phone": PHONE, "message": f"Reply {MARKER}"}, format="json"
            ),
            api_client.post(
                "/api/whatsapp/send-media",
                {
                    "to_phone": PHONE,
                    "media_type": "document",
                    "caption": f"Caption {MARKER}",
                    "filename": f"{MARKER}.pdf",
                    "file": SimpleUploadedFile("q.pdf", b"%PDF-1.4 " + MARKER.encode(), "application/pdf"),
                },
                format="multipart",
            ),
            api_client.post(
                "/api/whatsapp/send-template",
                {"to_phone": PHONE, "name": "hello", "language": "en", "parameters": [MARKER]},
                format="json",
            ),
        ]
        refused = [
            api_client.post("/api/whatsapp/send-message", {"to_phone": PHONE, "message": MARKER * 500}, format="json"),
            api_client.post(
                "/api/whatsapp/send-message",
                {"to_phone": "+447911123456", "message": f"Late {MARKER}"},
                format="json",
            ),
            api_client.post(
                "/api/whatsapp/send-message",
                {"to_phone": PHONE, "message": "x", "link_to_entity": "1", "entity_type": MARKER},
                format="json",
            ),
        ]
        read = api_client.get(f"/api/whatsapp/conversations/{PHONE}/messages")
        api_client.post(f"/api/whatsapp/conversations/{PHONE}/mark-read")
        api_client.get("/api/whatsapp/conversations/+447911123456/messages")  # 404, logged by Django

    assert [response.status_code for response in sends] == [202, 202, 202]
    assert [response.status_code for response in refused] == [400, 422, 400]
    assert MARKER in read.content.decode()  # the content is there, just not in the logs
    assert caplog.records, "the requests above log (e.g. Django's 4xx warnings)"
    for record in caplog.records:
        assert MARKER not in record.getMessage(), record.getMessage()
        assert MARKER not in emitted(record)
        assert PHONE not in emitted(record)
        assert "447911123456" not in emitted(record)


def test_it_masks_phone_numbers_however_they_are_written():
    line = "to +919876543210, from 919876543210, or +91 98765 43210 and (+44) 20-7946-0958"
    masked = mask_phones(line)
    for digits in ("9876543210", "98765 43210", "7946-0958"):
        assert digits not in masked
    assert "to +91******3210, from 919*****3210" in masked


def test_it_leaves_dates_and_small_ids_alone():
    line = "message 4821 failed at 2026-11-26 07:48:29 with code 131047"
    assert mask_phones(line) == line


def test_it_masks_the_arguments_and_the_traceback_of_a_record():
    try:
        raise ValueError("bad number +919876543210")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "send to %s failed", ("+919876543210",), True)
        import sys

        record.exc_info = sys.exc_info()
    MaskPhonesFilter().filter(record)
    assert record.getMessage() == "send to +91******3210 failed"
    assert "+919876543210" not in record.exc_text
    assert "+91******3210" in record.exc_text


def test_it_puts_the_filter_on_every_configured_handler():
    for name, handler in settings.LOGGING["handlers"].items():
        assert "mask_phones" in handler.get("filters", []), name


def test_it_puts_the_filter_on_handlers_celery_installs():
    logger = logging.getLogger("test-celery-like")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        install(logger=logger)
        install(logger=logger)  # once only
        assert [type(f) for f in handler.filters] == [MaskPhonesFilter]
    finally:
        logger.removeHandler(handler)
