"""What processing one delivery costs: a few queries, the same however long the history."""

import json

import pytest
from django.test import Client

from chat.models import Conversation, Message
from chat.services import conversation_get_or_create
from integrations.inbound import process_webhook_event
from integrations.models import WebhookEvent
from integrations.tests.conftest import OUR_WAMID, load_fixture, post_body

pytestmark = pytest.mark.django_db


def stored(body):
    """Post a delivery as Meta would; returns its event's id, not yet processed."""
    assert post_body(Client(), json.dumps(body).encode()).status_code == 200
    return WebhookEvent.objects.latest("pk").pk


def text(tag):
    body = load_fixture("text_message")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = f"wamid.{tag}"
    return body


def status(name, wamid=OUR_WAMID):
    body = load_fixture(f"status_{name}")
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = wamid
    return body


def history(conversation, size):
    Message.objects.bulk_create(
        Message(conversation=conversation, direction="outbound", status="read", whatsapp_message_id=f"wamid.old{i}")
        for i in range(size)
    )


def test_a_one_text_delivery_costs_eight_queries_whatever_the_history(django_assert_num_queries):
    process_webhook_event(stored(text("first")))  # creates the conversation
    history(Conversation.objects.get(), 200)
    event = stored(text("later"))
    # The event's body; then one transaction (the test's own stands in with a savepoint): the
    # conversation, the message, one UPDATE of the counters, one of the day's statistics,
    # the event's notes, the commit.
    with django_assert_num_queries(8):
        process_webhook_event(event)
    conversation = Conversation.objects.get()
    assert conversation.unread_count == 2
    assert conversation.last_message_preview == "Hello, is the site visit still on for Friday?"
    assert WebhookEvent.objects.get(pk=event).notes == {"outcomes": {"stored": 1}}


def test_a_one_status_delivery_costs_six_queries_whatever_the_history(django_assert_num_queries):
    conversation = conversation_get_or_create(phone="+919876543210")
    history(conversation, 200)
    ours = Message.objects.create(
        conversation=conversation, direction="outbound", status="sending", whatsapp_message_id=OUR_WAMID
    )
    event = stored(status("delivered"))
    # The event's body; then one transaction: the message's conversation (for the chat poll's
    # change mark, chat.changes), one conditional UPDATE of the message, the event's notes.
    with django_assert_num_queries(6):
        process_webhook_event(event)
    ours.refresh_from_db()
    assert ours.status == "delivered"
    assert ours.sent_at == ours.delivered_at is not None  # delivered implies sent
    # A late "sent" changes nothing (the conversation look-up finds no row to update, so no
    # UPDATE runs); finding out why reads the message under a lock.
    late = stored(status("sent"))
    with django_assert_num_queries(6):
        process_webhook_event(late)
    assert WebhookEvent.objects.get(pk=late).notes == {"outcomes": {"status_unchanged": 1}}


def test_a_message_delivered_again_in_a_new_event_is_stored_and_counted_once():
    first, again = stored(text("same")), stored(text("same"))
    process_webhook_event(first)
    process_webhook_event(again)
    assert Message.objects.get().whatsapp_message_id == "wamid.same"
    assert Conversation.objects.get().unread_count == 1
    event = WebhookEvent.objects.get(pk=again)
    assert (event.notes, event.processing_error) == ({"outcomes": {"duplicate": 1}}, "")
    assert event.processed_at is not None


def test_a_processed_event_is_not_read_twice(django_assert_num_queries):
    event = stored(text("once"))
    process_webhook_event(event)
    with django_assert_num_queries(1):
        process_webhook_event(event)  # the task delivered again by the broker
    assert Message.objects.count() == 1
