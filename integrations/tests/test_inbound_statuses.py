"""Statuses of our outbound messages: only forward, each with its time, failures with Meta's words."""

import json
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import timezone

from chat.models import Message
from chat.services import conversation_get_or_create
from integrations.inbound import process_webhook_event
from integrations.models import WebhookEvent
from integrations.statuses import apply_pending_statuses
from integrations.tests.conftest import OUR_WAMID, load_fixture, post_body

pytestmark = pytest.mark.django_db


def at(offset):
    return datetime.fromtimestamp(1764140000 + offset, tz=UTC)


@pytest.fixture
def ours():
    conversation = conversation_get_or_create(phone="+919876543210")
    return Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.SENDING,
        whatsapp_message_id=OUR_WAMID,
        message_body="Your site visit is on Friday",
        updated_at=timezone.now() - timezone.timedelta(minutes=1),
    )


def test_it_moves_a_message_through_sent_delivered_and_read_with_their_times(deliver, ours):
    deliver("status_sent")
    ours.refresh_from_db()
    assert (ours.status, ours.sent_at) == ("sent", at(1))
    deliver("status_delivered")
    ours.refresh_from_db()
    assert (ours.status, ours.delivered_at) == ("delivered", at(2))
    deliver("status_read")
    ours.refresh_from_db()
    assert (ours.status, ours.seen_at) == ("read", at(3))


def test_a_late_delivered_after_read_leaves_it_read(deliver, ours):
    deliver("status_read")
    ours.refresh_from_db()
    assert ours.status == "read"
    assert ours.delivered_at == at(3)  # read implies delivered
    assert ours.sent_at == at(3)
    changed_at = ours.updated_at
    event = deliver("status_delivered")
    ours.refresh_from_db()
    assert ours.status == "read"
    assert ours.updated_at == changed_at
    assert event.notes["outcomes"] == {"status_unchanged": 1}


def test_each_status_bumps_updated_at_so_the_chat_poll_shows_it(deliver, ours):
    before = ours.updated_at
    deliver("status_delivered")
    ours.refresh_from_db()
    assert ours.updated_at > before


def test_a_failed_status_keeps_meta_s_code_title_and_details(deliver, ours):
    deliver("status_failed")
    ours.refresh_from_db()
    assert ours.status == "failed"
    assert ours.failed_at == at(2)
    assert ours.error_code == 131047
    assert ours.error_title == "Re-engagement message"
    assert ours.error_details.startswith("Message failed to send because more than 24 hours")


def test_played_counts_as_read_for_a_voice_message(deliver, ours):
    deliver("status_played")
    ours.refresh_from_db()
    assert ours.status == "read"
    assert ours.seen_at == at(4)
    assert ours.data["played_at"] == at(4).isoformat()


def test_duplicate_statuses_change_nothing(deliver, ours):
    deliver("status_delivered")
    ours.refresh_from_db()
    snapshot = Message.objects.filter(pk=ours.pk).values().get()
    deliver("status_delivered")
    deliver("status_sent")
    assert Message.objects.filter(pk=ours.pk).values().get() == snapshot


def test_a_status_for_an_unknown_message_is_noted_not_an_error(deliver):
    event = deliver("status_unknown_message")
    assert event.processing_error == ""
    assert event.processed_at is not None
    assert [s["status"] for s in event.notes["unknown_statuses"]] == ["delivered"]


def test_a_status_that_beats_the_send_task_is_applied_once_the_wamid_is_saved(deliver):
    # Meta's "sent" arrives before our send task stored the wamid it was given.
    event = deliver("status_sent")
    assert event.notes["unknown_statuses"][0]["id"] == OUR_WAMID
    conversation = conversation_get_or_create(phone="+919876543210")
    message = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.SENDING,
        whatsapp_message_id=OUR_WAMID,
    )
    assert apply_pending_statuses(message) == 1
    message.refresh_from_db()
    assert (message.status, message.sent_at) == ("sent", at(1))
    assert apply_pending_statuses(message) == 0  # already applied: nothing changes


def test_apply_pending_statuses_ignores_old_events_and_messages_without_a_wamid(deliver):
    deliver("status_sent")
    conversation = conversation_get_or_create(phone="+919876543210")
    assert apply_pending_statuses(Message(conversation=conversation)) == 0
    message = Message.objects.create(
        conversation=conversation, direction="outbound", status="sending", whatsapp_message_id=OUR_WAMID
    )
    assert apply_pending_statuses(message, since=timezone.now() + timezone.timedelta(minutes=1)) == 0


def test_a_status_on_an_inbound_message_changes_nothing(deliver):
    deliver("text_message")
    inbound = Message.objects.get()
    body = load_fixture("status_read")
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = inbound.whatsapp_message_id
    post_body(Client(), json.dumps(body).encode())
    event = WebhookEvent.objects.latest("pk")
    process_webhook_event(event.pk)
    inbound.refresh_from_db()
    assert inbound.status == "received"
    event.refresh_from_db()
    assert event.processing_error == ""
    assert event.notes["outcomes"] == {"status_not_outbound": 1}


def test_the_webhook_s_own_errors_are_kept_on_the_event(deliver, caplog):
    event = deliver("errors_only")
    assert event.processing_error == ""
    assert event.notes["webhook_errors"][0]["code"] == 131000
    assert "131000" in caplog.text
    assert "Unsupported webhook payload" not in caplog.text  # details are not logged


def test_a_template_status_update_is_kept_not_failed(deliver):
    event = deliver("template_status_update")
    assert event.processing_error == ""
    assert event.processed_at is not None
    assert event.notes["fields"] == [{"field": "message_template_status_update", "where": "entry[0].changes[0]"}]
    assert not Message.objects.exists()


def test_a_status_name_whatsapp_adds_later_is_kept_not_failed(ours):
    body = load_fixture("status_delivered")
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "deleted"
    post_body(Client(), json.dumps(body).encode())
    event = WebhookEvent.objects.get()
    process_webhook_event(event.pk)
    event.refresh_from_db()
    assert event.processing_error == ""
    assert event.notes["unrecognised_statuses"][0]["status"] == "deleted"
    ours.refresh_from_db()
    assert ours.status == "sending"
