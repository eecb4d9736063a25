"""Inbound messages count in the statistics' daily rollup (chat.stats) as they are stored:
every kind Meta delivers, removed reactions too, and a replay or an edit adds nothing."""

import pytest

from chat.models import Message, MessageDayCount
from chat.services import conversation_apply_message, conversation_get_or_create
from chat.stats import stats_day
from chat.tests.test_stats import assert_rollup_matches_messages
from integrations.tests.conftest import OUR_WAMID, fixture_names

pytestmark = pytest.mark.django_db


def our_message():
    conversation = conversation_get_or_create(phone="+919876543210")
    message = Message.objects.create(
        conversation=conversation, direction="outbound", status="sent", whatsapp_message_id=OUR_WAMID
    )
    conversation_apply_message(message=message)
    return message


def counted(direction, kind):
    return sum(MessageDayCount.objects.filter(direction=direction, message_type=kind).values_list("count", flat=True))


def test_every_delivery_counts_each_stored_message_once(deliver):
    our_message()
    for name in fixture_names():
        deliver(name)
    for name in fixture_names():
        deliver(name)  # Meta delivers everything again: nothing new is stored or counted

    assert Message.objects.filter(direction="inbound").count() > 20
    assert_rollup_matches_messages()


def test_a_text_counts_on_the_day_it_was_stored(deliver):
    deliver("text_message")

    message = Message.objects.get(direction="inbound")
    row = MessageDayCount.objects.get()
    assert (row.day, row.direction, row.message_type, row.count) == (
        stats_day(message.created_at),
        "inbound",
        "text",
        1,
    )
    assert message.conversation.last_created_at == message.created_at


def test_a_removed_reaction_counts_although_it_shows_nothing(deliver):
    our_message()
    deliver("reaction_message")
    deliver("reaction_removed")

    assert counted("inbound", "reaction") == 2
    assert_rollup_matches_messages()


def test_an_edit_or_revoke_of_a_message_we_hold_counts_nothing_new(deliver):
    deliver("text_message")
    deliver("edit_message")
    deliver("revoke_message")

    assert counted("inbound", "text") == 1
    assert_rollup_matches_messages()
