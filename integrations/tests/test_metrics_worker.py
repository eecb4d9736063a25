"""Counts made in a real Celery worker show at the web process's /metrics."""

import pytest

from chat.models import Message
from conftest import _forget_rate_limits, jwt_client_for
from integrations.models import WebhookEvent
from integrations.tests.test_metrics import sample, scrape
from simulator.tests.fixtures import worker_env
from tests.worker import run_celery_worker, wait_for


@pytest.mark.slow
def test_a_message_the_worker_stores_is_counted_at_metrics(celery_worker_process, post_fixture, client):
    before = scrape(client)
    assert post_fixture("text_message").status_code == 200
    event = WebhookEvent.objects.get()
    wait_for(
        lambda: WebhookEvent.objects.filter(pk=event.pk, processed_at__isnull=False).exists(),
        message=f"processing; worker log:\n{celery_worker_process.log[-2000:]}",
    )
    after = scrape(client)
    assert sample(after, "whatsapp_messages_total", direction="inbound", type="text") == (
        sample(before, "whatsapp_messages_total", direction="inbound", type="text") + 1
    )
    assert sample(after, "whatsapp_webhook_processing_seconds_count") == (
        sample(before, "whatsapp_webhook_processing_seconds_count") + 1
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_send_through_the_api_done_by_the_worker_is_counted_at_metrics(
    whatsapp, conversation, django_user_model, client
):
    # A superuser: the agents group comes from a data migration that a transactional flush may have emptied.
    boss = django_user_model.objects.create_superuser(username="boss", password="boss-password-1")
    _forget_rate_limits(boss.pk)
    before = scrape(client)
    with run_celery_worker(env=worker_env(whatsapp)) as worker:
        response = jwt_client_for(boss).post(
            "/api/whatsapp/send-message", {"to_phone": conversation.other_party, "message": "Shipped"}, format="json"
        )
        assert response.status_code == 202, response.json()
        wait_for(
            lambda: Message.objects.filter(pk=response.json()["id"], status="sent").exists(),
            message=f"the send; worker log:\n{worker.log[-2000:]}",
        )
    after = scrape(client)
    assert sample(after, "whatsapp_messages_total", direction="outbound", type="text") == (
        sample(before, "whatsapp_messages_total", direction="outbound", type="text") + 1
    )
    assert sample(after, "whatsapp_send_latency_seconds_count") == (
        sample(before, "whatsapp_send_latency_seconds_count") + 1
    )
    _forget_rate_limits(boss.pk)
