"""End to end with a real Celery worker: a posted delivery is processed and its media downloaded."""

import pytest

from chat.models import Message
from integrations.models import WebhookEvent
from integrations.tests.graph_media import TOKEN, VERSION, GraphMediaServer
from tests.worker import run_celery_worker, wait_for

JPEG = b"\xff\xd8\xff\xe0" + b"site photo" * 300


@pytest.mark.slow
def test_a_posted_delivery_is_processed_by_the_worker(celery_worker_process, post_fixture):
    assert post_fixture("text_message").status_code == 200
    event = WebhookEvent.objects.get()
    wait_for(
        lambda: WebhookEvent.objects.filter(pk=event.pk, processed_at__isnull=False).exists(), message="processing"
    )
    message = Message.objects.get()
    assert message.message_body == "Hello, is the site visit still on for Friday?"
    assert message.conversation.unread_count == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_downloads_inbound_media_from_the_graph_api(post_fixture):
    with GraphMediaServer() as graph:
        graph.add("1003383421387256", JPEG)
        env = {"WHATSAPP_API_BASE_URL": graph.url, "WHATSAPP_API_VERSION": VERSION, "WHATSAPP_ACCESS_TOKEN": TOKEN}
        with run_celery_worker(env=env) as worker:
            assert post_fixture("image_message").status_code == 200
            wait_for(
                lambda: Message.objects.filter(media_state__in=["ready", "failed"]).exists(),
                message=f"the media download; worker log:\n{worker.log[-2000:]}",
            )
    message = Message.objects.get()
    assert message.media_state == Message.MediaState.READY, message.media_error
    with message.file.open("rb") as stored:
        assert stored.read() == JPEG
