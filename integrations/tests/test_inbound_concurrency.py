"""Meta delivers concurrently and retries: the same delivery processed by several workers at once
stores each message once, counts it once, and applies each reaction and status once."""

import threading

import pytest
from django.db import connections

from chat.models import Conversation, Message
from chat.services import conversation_get_or_create
from integrations.inbound import process_webhook_event
from integrations.models import WebhookEvent
from integrations.tests.conftest import OUR_WAMID


@pytest.mark.django_db(transaction=True)
def test_the_same_delivery_processed_by_four_workers_at_once_counts_once(post_fixture):
    conversation = conversation_get_or_create(phone="+919876543210")
    Message.objects.create(
        conversation=conversation, direction="outbound", status="sending", whatsapp_message_id=OUR_WAMID
    )
    post_fixture("multi_entry")
    post_fixture("multi_entry")  # Meta's retry of the same delivery
    post_fixture("reaction_message")
    events = list(WebhookEvent.objects.values_list("pk", flat=True))
    barrier = threading.Barrier(4)
    errors = []

    def work():
        try:
            barrier.wait()
            for pk in events:
                process_webhook_event(pk, force=True)
        except Exception as exc:  # reported below, not swallowed
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert list(WebhookEvent.objects.values_list("processing_error", flat=True)) == ["", "", ""]
    assert Message.objects.filter(direction="inbound").count() == 5
    asha = Conversation.objects.get(other_party="+919876543210")
    assert asha.unread_count == 3  # the reaction does not count
    assert Conversation.objects.get(other_party="+918765432109").unread_count == 1
    assert Message.objects.filter(message_type="reaction").exclude(message_body="").count() == 1
    assert Message.objects.get(whatsapp_message_id=OUR_WAMID).status == "delivered"
