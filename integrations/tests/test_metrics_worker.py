"""Counts made in a real Celery worker show at the web process's /metrics."""

import pytest

from integrations.models import WebhookEvent
from integrations.tests.test_metrics import sample, scrape
from tests.worker import wait_for


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
