"""Our own cache or database failing before the request to WhatsApp: nothing left, so the send waits and tries again.

No patching: the cache is pointed at a Redis port where nothing listens, as during a Redis restart.
"""

import pytest
from celery.exceptions import Retry
from django.core.files.uploadedfile import SimpleUploadedFile

from chat.errors import UNAVAILABLE_TITLE, describe_send_error
from chat.models import Message
from chat.services import message_queue, message_send_text
from integrations.outbound import RetryLater
from integrations.tasks import message_send_task
from tests.processes import free_port

pytestmark = pytest.mark.django_db


def sends(simulator):
    return simulator.state()["sends"]


@pytest.fixture
def redis_down(settings):
    """Point the cache at a local port where nothing listens; returns a function that brings it back."""
    working = settings.CACHES
    port = free_port()  # nothing listens there: connections are refused
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }

    def back():
        settings.CACHES = working

    return back


def test_it_queues_a_send_again_when_the_throughput_caps_cache_is_down(whatsapp, conversation, agent, redis_down):
    message = message_send_text(conversation=conversation, author=agent, body="Sent after the restart")
    with pytest.raises(Retry) as retry:
        message_send_task(message.pk)
    later = retry.value.__cause__
    assert isinstance(later, RetryLater)
    assert later.reason == "ConnectionError"
    assert 0 < later.countdown <= 2  # the first backoff, with jitter (base 2 s in these tests)
    message.refresh_from_db()
    assert (message.status, message.send_attempts) == (Message.Status.QUEUED, 1)  # the try counts
    assert sends(whatsapp) == []  # nothing reached WhatsApp

    redis_down()  # Redis is back
    assert message_send_task(message.pk) == "sent"
    message.refresh_from_db()
    assert (message.status, message.send_attempts) == (Message.Status.SENT, 2)
    (send,) = sends(whatsapp)
    assert message.whatsapp_message_id == send["wamid"]
    assert message_send_task(message.pk) == "skipped"  # the retry Celery still holds finds it sent


def test_it_fails_with_a_clear_reason_only_when_the_tries_are_spent(
    whatsapp, conversation, agent, redis_down, settings
):
    settings.WHATSAPP_SEND_MAX_ATTEMPTS = 3
    message = message_send_text(conversation=conversation, author=agent, body="Redis stays down")
    for _ in range(2):
        with pytest.raises(Retry):
            message_send_task(message.pk)
    assert message_send_task(message.pk) == "failed"
    message.refresh_from_db()
    assert (message.status, message.send_attempts, message.error_code) == (Message.Status.FAILED, 3, None)
    assert message.error_title == UNAVAILABLE_TITLE
    assert message.error_details == "ConnectionError before the request to WhatsApp, on try 3"
    assert "never reached WhatsApp" in describe_send_error(message.error_code, message.error_title)
    assert sends(whatsapp) == []


def test_it_keeps_a_media_upload_for_the_next_try_when_the_cache_fails_after_it(
    whatsapp, conversation, agent, redis_down, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    upload = SimpleUploadedFile("menu.pdf", b"%PDF-1.4 menu", content_type="application/pdf")
    message = message_queue(
        conversation=conversation,
        author=agent,
        message_type=Message.Type.DOCUMENT,
        file=upload,
        file_name="menu.pdf",
        mime_type="application/pdf",
    )
    with pytest.raises(Retry):
        message_send_task(message.pk)
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.media_id in whatsapp.media  # uploaded once, kept for the next try
    assert sends(whatsapp) == []
    redis_down()
    assert message_send_task(message.pk) == "sent"
    assert len(whatsapp.media) == 1
    assert sends(whatsapp)[0]["body"]["document"]["id"] == message.media_id
