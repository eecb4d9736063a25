"""The pane header's team actions: assign to me, unassign, resolve, reopen, each leaving an activity line."""

import html
import json
import re

import pytest
from django.urls import reverse

from chat.models import Conversation, Message
from chat.services.notes import note_add
from chat.tests.conftest import make_conversation, make_message

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def lines(chat):
    return list(
        Message.objects.filter(conversation=chat, message_type="activity").values_list("message_body", flat=True)
    )


def test_assign_to_me_then_unassign_from_the_header(agent_client, agent):
    chat = make_conversation()
    make_message(chat)
    header = agent_client.post(reverse("chat:conversation_assign", args=[chat.pk]), {"assignee": agent.pk}, **HTMX)
    assert "Assigned to alice" in header.content.decode()
    assert "Unassign" in header.content.decode()
    assert header.headers["HX-Trigger"]
    agent_client.post(reverse("chat:conversation_assign", args=[chat.pk]), {"assignee": ""}, **HTMX)
    assert Conversation.objects.get(pk=chat.pk).assignee is None
    assert lines(chat) == ["alice took this conversation", "alice unassigned alice"]


def test_resolve_and_reopen_from_the_header_show_in_the_thread(agent_client):
    chat = make_conversation()
    make_message(chat)
    agent_client.post(reverse("chat:conversation_status", args=[chat.pk]), {"status": "resolved"}, **HTMX)
    assert Conversation.objects.get(pk=chat.pk).status == "resolved"
    header = agent_client.post(reverse("chat:conversation_status", args=[chat.pk]), {"status": "open"}, **HTMX)
    assert "Resolve" in header.content.decode()
    pane = agent_client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX).content.decode()
    assert 'class="activity-line"' in pane
    assert "alice resolved this" in pane
    assert "alice reopened this" in pane


@pytest.mark.parametrize(
    ("view", "data", "sentence"),
    [
        ("chat:conversation_assign", {"assignee": "999999"}, "Choose a colleague who can use the chat."),
        ("chat:conversation_assign", {"assignee": "<b>x</b>"}, "Choose a colleague who can use the chat."),
        ("chat:conversation_status", {"status": "closed"}, "The status is one of: open, resolved, snoozed."),
    ],
)
def test_a_bad_header_action_says_why_and_changes_nothing(agent_client, view, data, sentence):
    chat = make_conversation()
    response = agent_client.post(reverse(view, args=[chat.pk]), data, **HTMX)
    assert response.status_code == 200
    assert sentence in response.content.decode()
    assert not lines(chat)


def test_a_plain_form_post_goes_back_to_the_conversation(agent_client, agent):
    chat = make_conversation()
    response = agent_client.post(reverse("chat:conversation_assign", args=[chat.pk]), {"assignee": agent.pk})
    assert response.status_code == 302
    assert response.url == reverse("chat:conversation", args=[chat.pk])


def test_a_colleague_without_the_chat_permission_cannot_be_assigned(agent_client, outsider):
    chat = make_conversation()
    agent_client.post(reverse("chat:conversation_assign", args=[chat.pk]), {"assignee": outsider.pk}, **HTMX)
    assert Conversation.objects.get(pk=chat.pk).assignee is None


@pytest.fixture
def ravi(django_user_model):
    from conftest import agents_group

    user = django_user_model.objects.create_user(username="ravi", first_name="Ravi", password="ravi-password-1")
    user.groups.add(agents_group())
    return user


# --- the assign menu ---------------------------------------------------------------------


def test_the_assign_menu_offers_colleagues_who_can_chat_and_the_teams(agent_client, ravi, outsider):
    from chat.models import Team

    Team.objects.create(name="Sales")
    chat = make_conversation()
    menu = agent_client.get(reverse("chat:conversation_assignees", args=[chat.pk]), **HTMX).content.decode()
    assert "Ravi" in menu
    assert "alice (me)" in menu
    assert outsider.get_username() not in menu
    assert "Sales" in menu


def test_transferring_to_a_colleague_tells_them(agent_client, agent, ravi):
    from chat.models import Mention

    chat = make_conversation(assignee=agent)
    url = reverse("chat:conversation_assign", args=[chat.pk])
    header = agent_client.post(url, {"assignee": ravi.pk}, **HTMX).content.decode()
    assert "Assigned to Ravi" in header
    assert lines(chat) == ["alice handed this to Ravi"]
    assert Mention.objects.filter(user=ravi, seen_at=None, message__conversation=chat).count() == 1
    assert not Mention.objects.filter(user=agent).exists()


def test_giving_a_conversation_to_a_team_keeps_its_member_and_hands_it_over_otherwise(agent_client, agent, ravi):
    from chat.models import Team

    sales = Team.objects.create(name="Sales")
    sales.members.add(ravi)
    url = lambda chat: reverse("chat:conversation_assign", args=[chat.pk])  # noqa: E731
    theirs = make_conversation(assignee=ravi)
    mine = make_conversation(phone="+14155550123", assignee=agent)
    agent_client.post(url(theirs), {"team": sales.pk}, **HTMX)
    agent_client.post(url(mine), {"team": sales.pk}, **HTMX)
    assert Conversation.objects.filter(pk=theirs.pk, assignee=ravi, team=sales).exists()
    assert Conversation.objects.filter(pk=mine.pk, assignee=None, team=sales).exists()
    header = agent_client.post(url(mine), {"team": "not-a-team"}, **HTMX).content.decode()
    assert "Choose one of the teams." in header


# --- snooze and mark as unread -----------------------------------------------------------


def test_snoozing_until_tomorrow_morning_from_the_menu(agent_client):
    from django.utils import timezone

    chat = make_conversation()
    header = agent_client.post(
        reverse("chat:conversation_status", args=[chat.pk]), {"status": "snoozed", "snooze": "tomorrow"}, **HTMX
    ).content.decode()
    until = timezone.localtime(Conversation.objects.get(pk=chat.pk).snoozed_until)
    assert until.date() == timezone.localdate() + timezone.timedelta(days=1)
    assert (until.hour, until.minute) == (9, 0)
    assert "Reopen" in header
    assert lines(chat)[0].startswith("alice snoozed this until")


def test_snoozing_until_a_picked_time_and_a_bad_one(agent_client):
    from django.utils import timezone

    chat = make_conversation()
    url = reverse("chat:conversation_status", args=[chat.pk])
    later = (timezone.localtime() + timezone.timedelta(days=3)).replace(second=0, microsecond=0)
    agent_client.post(url, {"status": "snoozed", "until": later.strftime("%Y-%m-%dT%H:%M")}, **HTMX)
    assert Conversation.objects.get(pk=chat.pk).snoozed_until == later
    other = make_conversation(phone="+14155550123")
    url = reverse("chat:conversation_status", args=[other.pk])
    for bad in ({"until": ""}, {"until": "soon"}, {"snooze": "forever"}, {"until": "2001-01-01T10:00"}):
        response = agent_client.post(url, {"status": "snoozed", **bad}, **HTMX).content.decode()
        assert 'class="header-error"' in response
    assert Conversation.objects.get(pk=other.pk).status == "open"


@pytest.mark.parametrize(
    ("choice", "now", "ends"),
    [
        ("hour", "2026-12-07 10:30", "2026-12-07 11:30"),
        ("tomorrow", "2026-12-07 23:50", "2026-12-08 09:00"),
        ("next_week", "2026-12-07 08:00", "2026-12-14 09:00"),  # a Monday: the next one
        ("next_week", "2026-12-11 17:00", "2026-12-14 09:00"),  # a Friday
    ],
)
def test_each_snooze_choice_ends_when_staff_expect(choice, now, ends):
    from datetime import datetime

    from django.utils import timezone

    from chat.services.inbox import snooze_end

    local = lambda text: timezone.make_aware(datetime.fromisoformat(text))  # noqa: E731
    assert snooze_end(choice, now=local(now)) == local(ends)


def test_mark_as_unread_brings_the_badge_back_and_closes_the_pane(agent_client):
    chat = make_conversation()
    make_message(chat)
    agent_client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX)
    assert Conversation.objects.get(pk=chat.pk).unread_count == 0
    response = agent_client.post(reverse("chat:conversation_unread", args=[chat.pk]), **HTMX)
    assert Conversation.objects.get(pk=chat.pk).unread_count == 1
    assert response.headers["HX-Push-Url"] == reverse("chat:page")
    body = response.content.decode()
    assert "Select a conversation to start chatting." in body
    assert 'class="badge"' in body


# --- notes, presence and the bell ---------------------------------------------------------


def test_a_note_from_the_composer_shows_as_a_note_with_its_author_and_highlighted_mentions(agent_client, ravi):
    from chat.models import Mention

    chat = make_conversation()
    make_message(chat)
    url = reverse("chat:note_add", args=[chat.pk])
    response = agent_client.post(url, {"body": "@ravi can you call <b>them</b>?", "idempotency_key": "k1"}, **HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Trigger"]
    agent_client.post(url, {"body": "@ravi can you call <b>them</b>?", "idempotency_key": "k1"}, **HTMX)
    assert Message.objects.filter(conversation=chat, message_type="note").count() == 1
    assert Mention.objects.filter(user=ravi).count() == 1
    pane = agent_client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX).content.decode()
    assert "Note · alice" in pane
    assert '<span class="mention">@ravi</span>' in pane
    assert "&lt;b&gt;them&lt;/b&gt;" in pane
    assert Conversation.objects.get(pk=chat.pk).last_message_preview == "hello"


def test_an_empty_note_keeps_the_composer_and_says_why(agent_client):
    chat = make_conversation()
    response = agent_client.post(reverse("chat:note_add", args=[chat.pk]), {"body": "   "}, **HTMX)
    assert 'role="alert"' in response.content.decode()
    assert not Message.objects.filter(conversation=chat, message_type="note").exists()


def test_the_header_says_when_a_colleague_is_viewing_or_replying(agent_client, ravi):
    from django.test import Client

    chat, client = make_conversation(), Client()
    url = reverse("chat:conversation_presence", args=[chat.pk])
    client.force_login(ravi)
    assert client.post(url, {"typing": "0"}, **HTMX).content.decode().strip() == ""
    assert "Ravi is viewing this conversation" in agent_client.post(url, {"typing": "0"}, **HTMX).content.decode()
    client.post(url, {"typing": "1"}, **HTMX)
    assert "Ravi is replying" in agent_client.post(url, {"typing": "0"}, **HTMX).content.decode()
    assert "alice is viewing" in client.post(url, {"typing": "1"}, **HTMX).content.decode()


def test_the_bell_saves_each_users_notification_settings(agent_client, agent):
    from chat.models import Agent

    response = agent_client.post(reverse("chat:notification_settings"), {"desktop_notifications": "on"}, **HTMX)
    assert 'data-desktop="1"' in response.content.decode()
    assert Agent.objects.filter(user=agent, desktop_notifications=True, sound=False).exists()
    page = agent_client.get(reverse("chat:page")).content.decode()
    assert 'id="bell-settings"' in page
    assert 'data-desktop="1" data-sound="0"' in page


def test_the_page_hands_its_script_what_concerns_me_for_notifications(agent_client, agent, ravi):
    mine = make_conversation(phone="+12025550101", name="Mine", assignee=agent)
    nobodys = make_conversation(phone="+12025550102", name="Nobody's")
    theirs = make_conversation(phone="+12025550103", name="Theirs", assignee=ravi)
    for row in (mine, nobodys, theirs):
        make_message(row, message_body="<img src=x>")
    note_add(conversation=theirs, author=ravi, body="@alice look", idempotency_key=None)
    page = agent_client.get(reverse("chat:page")).content.decode()
    state = json.loads(html.unescape(re.search(r'id="notify-state" hidden data-state="([^"]*)"', page).group(1)))
    assert {row["title"] for row in state["conversations"]} == {"Mine", "Nobody's"}
    assert all(row["unread"] == 1 and row["body"] == "<img src=x>" for row in state["conversations"])
    assert [(m["conversation"], m["title"]) for m in state["mentions"]] == [(theirs.pk, "Ravi mentioned you")]
    assert "<img src=x>" not in page
