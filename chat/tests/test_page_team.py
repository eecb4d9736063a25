"""The pane header's team actions: assign to me, unassign, resolve, reopen, each leaving an activity line."""

import pytest
from django.urls import reverse

from chat.models import Conversation, Message
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
