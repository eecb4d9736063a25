"""The team layer's rules: assignment, round robin, status, reopening, notes and mentions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat import changes
from chat.models import Agent, Conversation, Mention, Message, MessageDayCount, Team
from chat.selectors.conversations import InboxFilter, conversation_list, inbox_counts
from chat.selectors.stats import message_stats
from chat.services import message_receive
from chat.services.inbox import (
    InboxRefused,
    conversation_assign,
    conversation_mark_unread,
    conversation_set_status,
    conversations_wake,
)
from chat.services.notes import mentions_seen, note_add
from chat.services.sends import message_send_claim
from chat.tasks import conversations_wake_task
from chat.tests.conftest import make_conversation, make_message
from conftest import agents_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def ravi(django_user_model):
    user = django_user_model.objects.create_user(username="ravi", first_name="Ravi", password="ravi-password-1")
    user.groups.add(agents_group())
    return user


@pytest.fixture
def meena(django_user_model):
    user = django_user_model.objects.create_user(username="meena", first_name="Meena", password="meena-password-1")
    user.groups.add(agents_group())
    return user


def activity(conversation):
    return list(
        Message.objects.filter(conversation=conversation, message_type="activity")
        .order_by("id")
        .values_list("message_body", flat=True)
    )


def customer_writes(conversation, wamid="wamid.IN1", body="hello again"):
    return message_receive(
        wamid=wamid,
        phone=conversation.other_party,
        user_id="",
        name="",
        sender=conversation.other_party,
        at=timezone.now(),
        fields={"message_type": "text", "message_body": body},
    )


# --- assignment -------------------------------------------------------------------------


def test_assigning_taking_transferring_and_unassigning_each_leave_an_activity_line(agent, ravi, meena):
    chat = make_conversation()
    conversation_assign(conversation=chat, actor=agent, assignee=agent, team=None)
    conversation_assign(conversation=chat, actor=agent, assignee=ravi, team=None)
    conversation_assign(conversation=chat, actor=ravi, assignee=ravi, team=None)  # no change: no line
    conversation_assign(conversation=chat, actor=meena, assignee=agent, team=None)
    conversation_assign(conversation=chat, actor=meena, assignee=None, team=None)
    assert activity(chat) == [
        "alice took this conversation",
        "alice handed this to Ravi",
        "Meena transferred this from Ravi to alice",
        "Meena unassigned alice",
    ]
    chat.refresh_from_db()
    assert chat.assignee is None


def test_an_activity_line_is_never_sent_counted_or_unread(agent, ravi):
    chat = make_conversation()
    conversation_assign(conversation=chat, actor=agent, assignee=ravi, team=None)
    line = Message.objects.get(conversation=chat, message_type="activity")
    assert (line.direction, line.status, line.from_user) == ("internal", "internal", agent)
    assert not message_send_claim(message=line)
    chat.refresh_from_db()
    assert chat.unread_count == 0
    assert chat.last_message_at is None
    assert not MessageDayCount.objects.exists()


def test_only_a_chat_user_can_be_assigned(agent, outsider):
    with pytest.raises(InboxRefused) as refused:
        conversation_assign(conversation=make_conversation(), actor=agent, assignee=outsider, team=None)
    assert refused.value.field == "assignee"


def test_a_team_that_auto_assigns_hands_conversations_round_robin_to_its_available_agents(agent, ravi, meena):
    team = Team.objects.create(name="Support", auto_assign=True)
    team.members.add(agent, ravi, meena)
    Agent.objects.create(user=meena, available=False)
    owners = []
    for number in range(4):
        chat = make_conversation(phone=f"+1202555010{number}")
        owners.append(conversation_assign(conversation=chat, actor=agent, assignee=None, team=team).assignee)
    assert owners == [agent, ravi, agent, ravi]
    assert activity(chat) == ["Assigned to Ravi by round robin (Support)"]


def test_a_team_without_auto_assignment_keeps_its_conversations_unassigned(agent, ravi):
    team = Team.objects.create(name="Sales")
    team.members.add(ravi)
    chat = conversation_assign(conversation=make_conversation(), actor=agent, assignee=None, team=team)
    assert (chat.assignee, chat.team) == (None, team)
    assert activity(chat) == ["alice gave this to Sales"]


def test_a_new_customer_goes_to_the_team_that_receives_new_conversations(ravi):
    team = Team.objects.create(name="Front desk", auto_assign=True, receives_new_conversations=True)
    team.members.add(ravi)
    message = customer_writes(Conversation(other_party="+12025550123"))
    chat = Conversation.objects.get(pk=message.conversation_id)
    assert (chat.team, chat.assignee) == (team, ravi)


# --- status -----------------------------------------------------------------------------


def test_resolve_snooze_and_reopen_each_leave_a_line(agent):
    chat = make_conversation()
    conversation_set_status(conversation=chat, actor=agent, status="resolved")
    until = timezone.now() + timedelta(hours=1)
    conversation_set_status(conversation=chat, actor=agent, status="snoozed", until=until)
    conversation_set_status(conversation=chat, actor=agent, status="open")
    lines = activity(chat)
    assert lines[0] == "alice resolved this"
    assert lines[1].startswith("alice snoozed this until ")
    assert lines[2] == "alice reopened this"


@pytest.mark.parametrize(
    ("status", "until", "field"),
    [
        ("closed", None, "status"),
        ("snoozed", None, "until"),
        ("snoozed", timedelta(minutes=-1), "until"),
        ("snoozed", timedelta(days=400), "until"),
        ("resolved", timedelta(hours=1), "until"),
    ],
)
def test_a_bad_status_or_time_is_refused_naming_the_field(agent, status, until, field):
    chat = make_conversation()
    with pytest.raises(InboxRefused) as refused:
        conversation_set_status(
            conversation=chat, actor=agent, status=status, until=timezone.now() + until if until else None
        )
    assert refused.value.field == field
    chat.refresh_from_db()
    assert chat.status == "open"
    assert not activity(chat)


@pytest.mark.parametrize("status", ["resolved", "snoozed"])
def test_a_customers_new_message_reopens_a_finished_conversation(agent, status):
    chat = make_conversation()
    until = timezone.now() + timedelta(days=1) if status == "snoozed" else None
    conversation_set_status(conversation=chat, actor=agent, status=status, until=until)
    customer_writes(chat)
    chat.refresh_from_db()
    assert (chat.status, chat.snoozed_until) == ("open", None)
    assert activity(chat)[-1] == "Reopened: the customer wrote"


def test_snoozed_conversations_wake_when_their_time_comes(agent):
    due, later = make_conversation(), make_conversation(phone="+12025550199")
    for chat, hours in ((due, 1), (later, 5)):
        conversation_set_status(
            conversation=chat, actor=agent, status="snoozed", until=timezone.now() + timedelta(hours=hours)
        )
    assert conversations_wake(now=timezone.now() + timedelta(hours=2)) == 1
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, later.status) == ("open", "snoozed")
    assert activity(due)[-1] == "The snooze ended"


def test_mark_as_unread_brings_the_badge_back_and_marks_the_change(agent):
    chat = make_conversation()
    changes.conversations_touched([chat.pk])
    before = changes.messages_marked_at(chat.pk)
    conversation_mark_unread(conversation=chat)
    chat.refresh_from_db()
    assert chat.unread_count == 1
    assert changes.messages_marked_at(chat.pk) >= before


# --- notes and mentions -----------------------------------------------------------------


def test_a_note_mentions_colleagues_and_is_neither_sent_nor_counted(agent, ravi, meena):
    chat = make_conversation()
    make_message(chat, message_body="Where is my order?")
    chat.refresh_from_db()
    note = note_add(conversation=chat, author=agent, body="@ravi can you check? cc @meena. @nobody @alice")
    assert (note.direction, note.message_type, note.status) == ("internal", "note", "internal")
    assert {m.user for m in Mention.objects.filter(message=note)} == {ravi, meena}
    assert not message_send_claim(message=note)
    after = Conversation.objects.get(pk=chat.pk)
    assert (after.unread_count, after.last_message_preview) == (1, chat.last_message_preview)
    assert message_stats(days=1)["total_messages"] == 1


def test_a_note_can_be_linked_to_a_record_and_is_not_written_twice(agent):
    chat = make_conversation()
    first = note_add(conversation=chat, author=agent, body="Quote sent", entity=("lead", "L7"), idempotency_key="k1")
    again = note_add(conversation=chat, author=agent, body="Quote sent", entity=("lead", "L7"), idempotency_key="k1")
    assert first == again
    assert list(first.entity_links.values_list("entity_type", "entity_id")) == [("lead", "L7")]


@pytest.mark.parametrize("body", ["", "   ", "x" * 4097])
def test_an_empty_or_overlong_note_is_refused(agent, body):
    with pytest.raises(InboxRefused) as refused:
        note_add(conversation=make_conversation(), author=agent, body=body)
    assert refused.value.field == "body"


def test_opening_the_conversation_sees_its_mentions(agent, ravi):
    chat = make_conversation()
    note_add(conversation=chat, author=agent, body="@ravi look")
    assert inbox_counts(user=ravi)["mentions"] == 1
    mentions_seen(conversation=chat, user=ravi)
    assert inbox_counts(user=ravi)["mentions"] == 0


# --- the sidebar's filters and counts ---------------------------------------------------


def test_the_filters_and_their_unread_counts(agent, ravi):
    team = Team.objects.create(name="Support")
    mine, theirs, nobodys, done = (make_conversation(phone=f"+1202555020{n}") for n in range(4))
    for chat in (mine, theirs, nobodys, done):
        make_message(chat)
    conversation_assign(conversation=mine, actor=agent, assignee=agent, team=team)
    conversation_assign(conversation=theirs, actor=agent, assignee=ravi, team=None)
    conversation_set_status(conversation=done, actor=agent, status="resolved")

    def shown(status="open", owner="all"):
        return {c.pk for c in conversation_list(user=agent, inbox=InboxFilter(status, owner))}

    assert shown() == {mine.pk, theirs.pk, nobodys.pk}
    assert shown(owner="mine") == {mine.pk}
    assert shown(owner="unassigned") == {nobodys.pk}
    assert shown(owner=f"team:{team.pk}") == {mine.pk}
    assert shown(status="resolved") == {done.pk}
    assert shown(status="bogus", owner="team:x") == shown()
    counts = inbox_counts(user=agent)
    assert (counts["all"], counts["mine"], counts["unassigned"], counts["teams"]) == (3, 1, 1, {team.pk: 1})
    assert counts["concerns_me"] == 2


def test_the_beat_task_wakes_what_is_due(agent):
    chat = make_conversation()
    conversation_set_status(conversation=chat, actor=agent, status="snoozed", until=timezone.now() + timedelta(hours=1))
    Conversation.objects.filter(pk=chat.pk).update(snoozed_until=timezone.now() - timedelta(minutes=1))
    assert conversations_wake_task() == 1
