"""Webhook test helpers: fixture payloads shaped as Meta sends them, signed like Meta signs them."""

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from django.urls import reverse

from integrations.inbound import process_webhook_event
from integrations.models import WebhookEvent

FIXTURES = Path(__file__).parent / "fixtures"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
# The wamid of "our" outbound message that the fixtures reply to, react to and report on.
OUR_WAMID = "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSOUQ1QkM0QjJGMjM0NUE0QjA5AA=="


def fixture_names():
    return sorted(path.stem for path in FIXTURES.glob("*.json"))


def load_fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def wamid(tag):
    """The id the fixtures give message `tag` (see fixtures/*.json)."""
    return f"wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgg{tag}AA=="


def sign(body, secret=APP_SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_body(client, body, *, signature=None, **headers):
    """POST raw bytes to the webhook, signed unless a signature ("" for none) is given."""
    if signature is None:
        signature = sign(body)
    if signature:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    headers.setdefault("CONTENT_LENGTH", str(len(body)))  # the test client leaves it out for b""
    return client.post(reverse("integrations:webhook"), data=body, content_type="application/json", **headers)


@pytest.fixture(autouse=True)
def webhook_settings(settings, tmp_path):
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_WEBHOOK_VERIFY_TOKEN = VERIFY_TOKEN
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings


@pytest.fixture
def post_fixture(client):
    """post_fixture("text_message") posts fixtures/text_message.json as Meta would: compact and signed."""

    def post(name, **headers):
        body = json.dumps(load_fixture(name), separators=(",", ":")).encode()
        return post_body(client, body, **headers)

    return post


@pytest.fixture
def deliver(post_fixture):
    """Post a fixture and process the stored event as the worker would; returns the event."""

    def run(name):
        response = post_fixture(name)
        assert response.status_code == 200, response.content
        event = WebhookEvent.objects.latest("pk")
        process_webhook_event(event.pk)
        event.refresh_from_db()
        return event

    return run
