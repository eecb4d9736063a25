"""The bubble menu's actions (reply with a quote, react, copy text) and the typing indicator to the customer.

Views and services here; the payloads that reach the Cloud API simulator are proved at the end.
"""

import pytest
from django.core.cache import cache
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from chat.models import Message
from chat.services import REACTION_EMOJIS, SendRefused, message_react
from chat.services.conversations import typing_indicator_key
from chat.tests.conftest import backdate, make_conversation, make_message
from integrations.tasks import message_send_task, message_typing_task

HTMX = {"HTTP_HX_REQUEST": "true"}


def committed(post):
    """Run `post` in a transaction that commits, so what it hands to the worker is handed over."""

    def run(*args, **kwargs):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return post(*args, **kwargs)

    return run


@committed
def send(client, chat, **data):
    return client.post(reverse("chat:message_send", args=[chat.pk]), {"idempotency_key": "", **data}, **HTMX)


@committed
def react(client, chat, message, emoji):
    return client.post(reverse("chat:message_react", args=[chat.pk]), {"message": message.pk, "emoji": emoji}, **HTMX)


@committed
def presence(client, chat, typing="1"):
    return client.post(reverse("chat:conversation_presence", args=[chat.pk]), {"typing": typing}, **HTMX)


def fresh_typing(chat):
    cache.delete(typing_indicator_key(chat.pk))


# --- the menu's markup ------------------------------------------------------------------


def test_the_pane_holds_one_shared_menu_and_each_bubble_only_says_whether_whatsapp_knows_it(agent_client, chat):
    for n in range(3):
        make_message(chat, message_body=f"question {n}")
    queued = make_message(chat, "outbound", message_body="not sent yet", status="queued")
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX).content.decode()
    assert body.count('id="msg-actions"') == 1
    assert body.count('class="react-form"') == 1
    assert body.count('class="react"') == len(REACTION_EMOJIS)
    assert body.count(" data-wa") == 3  # the queued message has no wamid yet
    assert f'id="m-{queued.pk}" data-id="{queued.pk}" data-status="queued">' in body
    assert body.count("Link to") >= 4  # every bubble keeps its "Link to a record" form
    assert 'name="reply_to" value=""' in body


# --- reply --------------------------------------------------------------------------------


def test_a_reply_quotes_the_customers_message_and_shows_it_on_our_bubble(agent_client, chat, enqueued):
    question = make_message(chat, message_body="Is it in stock?")
    response = send(agent_client, chat, body="Yes, two left", reply_to=question.pk)
    assert 'class="composer-error" role="alert"' not in response.content.decode()
    reply = Message.objects.get(conversation=chat, direction="outbound")
    assert reply.reply_to_whatsapp_id == question.whatsapp_message_id
    assert enqueued["send"] == [reply.pk]
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX).content.decode()
    bubble = body[body.index(f'id="m-{reply.pk}"') :]
    assert f'<a class="quote quote-inbound" href="#m-{question.pk}">' in bubble[:600]
    assert "Is it in stock?" in bubble[:800]


def test_a_reply_to_a_message_without_a_wamid_is_refused_and_keeps_the_text(agent_client, chat, enqueued):
    pending = make_message(chat, "outbound", message_body="still queued", status="queued")
    body = send(agent_client, chat, body="about that", reply_to=pending.pk).content.decode()
    assert "no WhatsApp id yet" in body
    assert ">about that</textarea>" in body
    assert f'name="reply_to" value="{pending.pk}"' in body  # the strip stays, so nothing is lost
    assert not Message.objects.filter(message_body="about that").exists()
    assert enqueued["send"] == []


def test_a_reply_to_a_note_or_another_conversations_message_is_refused(agent_client, chat, enqueued):
    other = make_message(make_conversation(phone="+14155550123"), message_body="elsewhere")
    note = make_message(chat, "internal", message_type="note", status="internal", whatsapp_message_id=None)
    for target in (other, note):
        body = send(agent_client, chat, body="hm", reply_to=target.pk).content.decode()
        assert 'class="composer-error" role="alert"' in body
    assert "not in this conversation" in send(agent_client, chat, body="hm", reply_to="99x").content.decode()
    assert enqueued["send"] == []


# --- react --------------------------------------------------------------------------------


def test_a_reaction_is_queued_once_and_shown_on_the_bubble_as_ours(agent_client, chat, enqueued):
    question = make_message(chat, message_body="Thanks!")
    response = react(agent_client, chat, question, "❤️")
    body = response.content.decode()
    assert f'id="m-{question.pk}"' in body
    assert '<span class="reaction reaction-outbound" title="You">❤️</span>' in body
    react(agent_client, chat, question, "❤️")  # a second click on the same emoji
    (reaction,) = Message.objects.filter(conversation=chat, message_type="reaction")
    assert (reaction.direction, reaction.message_body, reaction.reply_to_whatsapp_id) == (
        "outbound",
        "❤️",
        question.whatsapp_message_id,
    )
    assert enqueued["send"] == [reaction.pk]
    assert "chatChanged" in response["HX-Trigger"]


def test_a_new_emoji_replaces_ours_and_an_empty_one_removes_it(agent_client, chat, enqueued):
    question = make_message(chat, message_body="Thanks!")
    make_message(chat, message_type="reaction", message_body="😮", reply_to_whatsapp_id=question.whatsapp_message_id)
    react(agent_client, chat, question, "👍")
    body = react(agent_client, chat, question, "🙏").content.decode()
    assert '<span class="reaction reaction-outbound" title="You">🙏</span>' in body
    assert "👍" not in body
    assert "reaction-inbound" in body  # the customer's stays beside ours
    preview = type(chat).objects.get(pk=chat.pk).last_message_preview
    assert preview == "Reacted 🙏"
    body = react(agent_client, chat, question, "").content.decode()
    assert "reaction-outbound" not in body
    assert type(chat).objects.get(pk=chat.pk).last_message_preview == preview  # a removal shows nothing new
    assert [m.message_body for m in Message.objects.filter(direction="outbound").order_by("id")] == ["👍", "🙏", ""]
    assert len(enqueued["send"]) == 3


def test_a_colleagues_poll_redraws_the_bubble_with_our_reaction(agent_client, chat, enqueued):
    question = make_message(chat, message_body="Thanks!")
    backdate(chat, question)
    since = timezone.now().isoformat()
    react(agent_client, chat, question, "😂")
    url = reverse("chat:conversation_poll", args=[chat.pk])
    body = agent_client.get(url, {"after": question.pk, "since": since, "open": 1}, **HTMX).content.decode()
    assert f'id="m-{question.pk}"' in body
    assert '<span class="reaction reaction-outbound" title="You">😂</span>' in body


def test_a_refused_reaction_says_why_on_the_bubble(agent_client, chat, enqueued):
    pending = make_message(chat, "outbound", message_body="queued", status="queued")
    assert "no WhatsApp id yet" in react(agent_client, chat, pending, "👍").content.decode()
    question = make_message(chat, message_body="hi")
    assert "Choose one of the reactions offered." in react(agent_client, chat, question, "🦄").content.decode()
    assert "no reaction of yours to remove" in react(agent_client, chat, question, "").content.decode()
    assert not Message.objects.filter(message_type="reaction").exists()
    assert enqueued["send"] == []


def test_a_reaction_whatsapp_refused_is_not_shown(agent_client, chat, enqueued):
    question = make_message(chat, message_body="hi")
    reaction = message_react(message=question, author=None, emoji="😂")
    Message.objects.filter(pk=reaction.pk).update(status="failed")
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX).content.decode()
    assert "reaction-outbound" not in body
    # ...and choosing it again sends it again.
    assert message_react(message=question, author=None, emoji="😂").pk != reaction.pk


def test_reacting_needs_the_message_to_be_in_the_conversation(agent_client, chat):
    other = make_message(make_conversation(phone="+14155550123"))
    assert react(agent_client, chat, other, "👍").status_code == 404


def test_a_reaction_outside_the_service_window_is_refused(db):
    chat = make_conversation(inbound_ago=timezone.timedelta(days=2))
    question = make_message(chat, message_body="old", apply=False)
    with pytest.raises(SendRefused) as refused:
        message_react(message=question, author=None, emoji="👍")
    assert refused.value.code == "outside_service_window"


# --- typing indicator -----------------------------------------------------------------------


def test_typing_a_reply_to_an_inbound_message_shows_typing_once_per_20_seconds(agent_client, chat, enqueued):
    fresh_typing(chat)
    question = make_message(chat, message_body="Are you there?", read=True)
    presence(agent_client, chat)
    presence(agent_client, chat)
    assert enqueued["typing"] == [question.pk]
    presence(agent_client, chat, typing="0")
    assert enqueued["typing"] == [question.pk]
    fresh_typing(chat)  # 20 seconds later
    presence(agent_client, chat)
    assert enqueued["typing"] == [question.pk, question.pk]


def test_no_typing_indicator_when_our_message_is_the_newest_or_staff_have_not_read_it(agent_client, chat, enqueued):
    fresh_typing(chat)
    unread = make_message(chat, message_body="new, unread")
    presence(agent_client, chat)
    assert enqueued["typing"] == []  # read receipts only go out for what staff have read
    Message.objects.filter(pk=unread.pk).update(read=True)
    make_message(chat, "outbound", message_body="answered")
    make_message(chat, "internal", message_type="note", status="internal", whatsapp_message_id=None)
    presence(agent_client, chat)
    assert enqueued["typing"] == []
    closed = make_conversation(phone="+14155550123", inbound_ago=timezone.timedelta(days=2))
    make_message(closed, message_body="old", read=True, apply=False)
    presence(agent_client, closed)
    assert enqueued["typing"] == []


def test_the_presence_report_costs_no_query_more_while_the_indicator_waits(
    agent_client, chat, enqueued, django_assert_num_queries
):
    fresh_typing(chat)
    make_message(chat, message_body="hi", read=True)
    presence(agent_client, chat)
    with django_assert_num_queries(2):  # the user and the conversation, as a report without typing
        presence(agent_client, chat)
    with django_assert_num_queries(2):
        presence(agent_client, chat, typing="0")


# --- the payloads, against the Cloud API simulator ---------------------------------------------


def test_the_reply_reaction_and_typing_reach_the_cloud_api_in_metas_shapes(whatsapp, conversation, agent):
    question = make_message(conversation, message_body="Where is my order?", read=True)
    fresh_typing(conversation)
    from chat.services import conversation_typing_indicator, message_send_text

    # Staff start typing: "typing…" on the customer's phone, which marks the question read.
    assert conversation_typing_indicator(conversation=conversation) is True
    assert conversation_typing_indicator(conversation=conversation) is False
    assert message_typing_task(question.pk) is True
    (read,) = whatsapp.state()["reads"]
    assert (read["message_id"], read["typing"]) == (question.whatsapp_message_id, True)
    reply = message_send_text(conversation=conversation, author=agent, body="On its way", reply_to=question)
    reaction = message_react(message=question, author=agent, emoji="👍")
    removal = message_react(message=question, author=agent, emoji="")
    for message in (reply, reaction, removal):
        assert message_send_task(message.pk) == "sent"
        assert message_send_task(message.pk) == "skipped"  # once, whatever the broker redelivers
    sends = [s["body"] for s in whatsapp.state()["sends"]]
    assert sends[0]["context"] == {"message_id": question.whatsapp_message_id}
    assert sends[0]["text"]["body"] == "On its way"
    assert sends[1]["type"] == "reaction"
    assert sends[1]["reaction"] == {"message_id": question.whatsapp_message_id, "emoji": "👍"}
    assert sends[2]["reaction"] == {"message_id": question.whatsapp_message_id, "emoji": ""}
    assert all("context" not in body for body in sends[1:])
