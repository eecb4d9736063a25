import re

import pytest
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Message
from chat.services.statuses import message_status_apply
from chat.tests.conftest import backdate, make_conversation, make_message

HTMX = {"HTTP_HX_REQUEST": "true"}


def open_url(chat):
    return reverse("chat:conversation", args=[chat.pk])


def poll(client, chat, **params):
    return client.get(reverse("chat:conversation_poll", args=[chat.pk]), params, **HTMX)


def test_it_renders_the_whole_page_for_a_direct_visit(agent_client, chat):
    make_message(chat, message_body="where is my order?")
    body = agent_client.get(open_url(chat)).content.decode()
    assert "<html" in body
    assert 'id="sidebar"' in body
    assert 'id="pane"' in body
    assert "where is my order?" in body


def test_it_renders_only_the_pane_and_the_sidebar_out_of_band_for_htmx(agent_client, chat):
    make_message(chat, message_body="where is my order?")
    response = agent_client.get(open_url(chat), **HTMX)
    body = response.content.decode()
    assert "<html" not in body
    assert body.count('id="pane"') == 1
    assert 'id="conversation-list" hx-swap-oob="innerHTML"' in body
    assert "HX-Request" in response["Vary"]


def test_it_answers_a_history_restore_with_the_whole_page(agent_client, chat):
    body = agent_client.get(open_url(chat), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in body.content.decode()


def test_it_marks_the_conversation_read_and_queues_one_read_receipt(
    agent_client, chat, django_capture_on_commit_callbacks
):
    make_message(chat, whatsapp_message_id="wamid.OLD")
    newest = make_message(chat, whatsapp_message_id="wamid.NEW")
    assert Conversation.objects.get(pk=chat.pk).unread_count == 2
    with django_capture_on_commit_callbacks() as callbacks:
        body = agent_client.get(open_url(chat), **HTMX).content.decode()
    assert Conversation.objects.get(pk=chat.pk).unread_count == 0
    assert not Message.objects.filter(conversation=chat, read=False).exists()
    assert [callback.args for callback in callbacks] == [(newest.pk,)]
    assert 'aria-label="2 unread"' not in body  # the out-of-band sidebar has no badge


def test_it_queues_no_read_receipt_when_nothing_is_unread(agent_client, chat, django_capture_on_commit_callbacks):
    make_message(chat, read=True, apply=False)
    with django_capture_on_commit_callbacks() as callbacks:
        agent_client.get(open_url(chat), **HTMX)
    assert callbacks == []


def test_it_shows_name_number_and_until_when_the_window_is_open(agent_client, chat):
    body = agent_client.get(open_url(chat), **HTMX).content.decode()
    assert "Asha Patel" in body
    assert "+919876543210" in body
    assert "Window open until" in body


def test_it_shows_a_closed_window_and_offers_templates_instead_of_free_text(agent_client, db):
    from chat.models import MessageTemplate

    chat = make_conversation(inbound_ago=timezone.timedelta(hours=30))
    MessageTemplate.objects.create(name="order_update", language="en_US", status="APPROVED")
    MessageTemplate.objects.create(name="draft_promo", language="en_US", status="PENDING")
    body = agent_client.get(open_url(chat), **HTMX).content.decode()
    assert "24-hour window closed" in body
    assert "only allows an approved template" in body
    assert "order_update" in body
    assert "draft_promo" not in body
    assert 'aria-label="Message"' not in body
    assert 'aria-label="Private note"' in body  # notes never reach WhatsApp, so no window applies


def test_it_returns_404_for_an_unknown_conversation(agent_client, db):
    assert agent_client.get(reverse("chat:conversation", args=[999])).status_code == 404


def test_it_refuses_a_conversation_without_the_chat_permission(client, outsider, chat):
    client.force_login(outsider)
    assert client.get(open_url(chat)).status_code == 403


# --- the conversation poll ---


def test_it_answers_an_idle_poll_with_204(agent_client, chat):
    message = make_message(chat)
    backdate(chat, message)
    response = poll(agent_client, chat, after=message.pk, since=timezone.now().isoformat(), open=1)
    assert response.status_code == 204


def test_it_appends_new_messages_out_of_band_and_moves_the_cursor(agent_client, chat):
    first = make_message(chat, message_body="first")
    backdate(chat, first)
    since = timezone.now().isoformat()
    second = make_message(chat, message_body="second <b>bold</b>")
    response = poll(agent_client, chat, after=first.pk, since=since, open=1)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'hx-swap-oob="beforeend:#message-list"' in body
    assert f'id="m-{second.pk}"' in body
    assert f'id="m-{first.pk}"' not in body
    assert "second &lt;b&gt;bold&lt;/b&gt;" in body
    assert f"after={second.pk}" in body
    assert 'id="conversation-poll" hidden hx-swap-oob="true"' in body
    assert 'id="composer"' not in body  # half-typed text survives polls
    assert "chatSidebarStale" in response["HX-Trigger"]  # the sidebar's row follows at once


def test_it_replaces_a_changed_status_in_place(agent_client, chat):
    sent = make_message(chat, "outbound", status="sent")
    backdate(chat, sent)
    since = timezone.now().isoformat()
    message_status_apply(wamid=sent.whatsapp_message_id, name="delivered", at=timezone.now())
    body = poll(agent_client, chat, after=sent.pk, since=since, open=1).content.decode()
    assert f'id="m-{sent.pk}" data-id="{sent.pk}" data-status="delivered" hx-swap-oob="true"' in body
    assert "beforeend" not in body


def test_a_poll_that_changed_nothing_in_the_thread_leaves_the_sidebar_alone(agent_client, chat):
    message = make_message(chat)
    backdate(chat, message)
    response = poll(agent_client, chat, after=message.pk, since=timezone.now().isoformat(), open=0)
    assert response.status_code == 200  # the window closed: the composer changes, no bubble does
    assert "HX-Trigger" not in response


def test_it_marks_new_inbound_messages_read_while_the_conversation_is_open(agent_client, chat):
    first = make_message(chat, read=True)
    Conversation.objects.filter(pk=chat.pk).update(unread_count=0)
    backdate(chat, first)
    since = timezone.now().isoformat()
    make_message(chat, message_body="are you there?")
    poll(agent_client, chat, after=first.pk, since=since, open=1)
    assert Conversation.objects.get(pk=chat.pk).unread_count == 0


def test_it_re_renders_the_bubble_a_new_reaction_reacts_to(agent_client, chat):
    target = make_message(chat, "outbound", message_body="Your order shipped")
    backdate(chat, target)
    since = timezone.now().isoformat()
    make_message(chat, message_type="reaction", message_body="👍", reply_to_whatsapp_id=target.whatsapp_message_id)
    body = poll(agent_client, chat, after=target.pk, since=since, open=1).content.decode()
    assert f'id="m-{target.pk}"' in body
    assert "👍" in body


def test_it_swaps_the_composer_when_the_window_opens(agent_client, db):
    chat = make_conversation(inbound_ago=timezone.timedelta(hours=30))
    old = make_message(chat, apply=False)
    backdate(chat, old)
    since = timezone.now().isoformat()
    make_message(chat, message_body="hello again")
    body = poll(agent_client, chat, after=old.pk, since=since, open=0).content.decode()
    assert 'id="composer" hx-swap-oob="true"' in body
    assert 'name="body"' in body
    assert 'id="pane-header" hx-swap-oob="true"' in body


def test_it_reads_a_cursor_without_a_time_zone_as_utc(agent_client, chat):
    message = make_message(chat)
    backdate(chat, message)
    response = poll(agent_client, chat, after=message.pk, since=timezone.now().replace(tzinfo=None).isoformat(), open=1)
    assert response.status_code == 204


@pytest.mark.parametrize("params", [{"after": "x"}, {"after": "-1"}, {"since": "soon"}])
def test_it_refuses_a_malformed_poll_cursor(agent_client, chat, params):
    assert poll(agent_client, chat, **params).status_code == 400


# --- older history ---


def test_it_loads_older_history_fifty_at_a_time_by_keyset(agent_client, chat):
    messages = [make_message(chat, message_body=f"message {n}", apply=False) for n in range(120)]
    body = agent_client.get(open_url(chat), **HTMX).content.decode()
    assert "message 119" in body
    assert "message 70<" in body
    assert "message 69<" not in body
    assert f"before={messages[70].pk}" in body
    older = agent_client.get(reverse("chat:conversation_older", args=[chat.pk]), {"before": messages[70].pk}, **HTMX)
    text = older.content.decode()
    assert "message 20<" in text
    assert "message 69<" in text
    assert "message 19<" not in text
    assert "message 70<" not in text
    assert f"before={messages[20].pk}" in text
    last = agent_client.get(reverse("chat:conversation_older", args=[chat.pk]), {"before": messages[20].pk}, **HTMX)
    text = last.content.decode()
    assert "message 0<" in text
    assert 'id="older"' not in text


def test_it_needs_a_keyset_cursor_for_older_history(agent_client, chat):
    assert agent_client.get(reverse("chat:conversation_older", args=[chat.pk])).status_code == 400


def test_it_answers_out_of_range_ids_without_an_error(agent_client, chat):
    huge = "9" * 30
    assert poll(agent_client, chat, after=huge).status_code == 400
    older = agent_client.get(reverse("chat:conversation_older", args=[chat.pk]), {"before": huge}, **HTMX)
    assert older.status_code == 400
    assert agent_client.get(f"/whatsapp-chat/c/{huge}/").status_code == 404
    assert agent_client.get(f"/whatsapp-chat/media/{huge}").status_code == 404


def test_it_loads_scripts_and_styles_only_from_this_site(agent_client, chat):
    make_message(chat)
    body = agent_client.get(open_url(chat)).content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', body)
    assert sources
    assert all(source.startswith(("/static/", "data:")) for source in sources), sources
