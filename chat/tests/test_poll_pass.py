"""An idle poll with its pass is answered from the cache alone; anything else goes the ordinary way."""

import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from chat.changes import messages_mark_back, messages_marked_at
from chat.models import Conversation
from chat.tests.conftest import backdate, make_conversation, make_message

HTMX = {"HTTP_HX_REQUEST": "true"}


def poll_url(response):
    """The next poll's URL, as the page's sentinel carries it."""
    found = re.search(r'id="conversation-poll"[^>]*?hx-get="([^"]+)"', response.content.decode(), re.S)
    assert found, "the response carries no poll sentinel"
    return unescape(found.group(1))


def a_while_later(chat):
    """The open's own writes (marked read) are older than the cursor, as three seconds later."""
    messages_mark_back([chat.pk], timezone.now() - timezone.timedelta(minutes=1))


@pytest.fixture
def opened(agent_client, chat):
    """Alice opened Asha's conversation; the URL of its next poll."""
    backdate(chat, make_message(chat))
    url = poll_url(agent_client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX))
    a_while_later(chat)
    return url


def test_an_idle_poll_with_its_pass_reads_no_row(agent_client, opened, django_assert_num_queries):
    assert "pass=" in opened
    with django_assert_num_queries(0):  # not the session, not the user, not the conversation
        response = agent_client.get(opened, **HTMX)
    assert response.status_code == 204


def test_a_new_message_goes_the_ordinary_way_and_shows(agent_client, opened, chat):
    arrived = make_message(chat, message_body="Is my order ready?")
    response = agent_client.get(opened, **HTMX)
    assert f'id="m-{arrived.pk}"' in response.content.decode()
    assert "pass=" in poll_url(response)  # with a pass for the poll after it


def test_a_change_to_the_conversation_alone_reaches_the_page(agent_client, opened, chat):
    Conversation.objects.filter(pk=chat.pk).update(contact_name="Asha P. (Pune)", updated_at=timezone.now())
    assert "Asha P. (Pune)" in agent_client.get(opened, **HTMX).content.decode()


def test_a_pass_is_worth_nothing_without_its_session(opened):
    response = Client().get(opened, **HTMX)
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_a_pass_is_worth_nothing_to_a_user_without_the_chat_permission(client, outsider, opened):
    client.force_login(outsider)
    assert client.get(opened, **HTMX).status_code == 403


def test_a_pass_for_one_conversation_does_not_serve_another(agent_client, opened, chat):
    other = make_conversation(phone="+14155550123", name="Ben", inbound_ago=timezone.timedelta(hours=1))
    a_while_later(other)
    own, theirs = (reverse("chat:conversation_poll", args=[pk]) for pk in (chat.pk, other.pk))
    response = agent_client.get(opened.replace(own, theirs), **HTMX)
    assert response.status_code == 200  # the ordinary way: logged in, and a pass of its own
    assert poll_url(response).startswith(theirs)


def test_an_expired_pass_is_renewed_by_the_ordinary_way(agent_client, opened, settings):
    settings.CHAT_PERMISSION_CACHE_SECONDS = 0  # every pass has expired by the time it comes back
    response = agent_client.get(opened, **HTMX)
    assert response.status_code == 200
    renewed = poll_url(response)
    assert renewed != opened
    assert "pass=" in renewed


def test_a_tampered_pass_goes_the_ordinary_way(agent_client, opened):
    response = agent_client.get(opened.replace("pass=", "pass=x"), **HTMX)
    assert response.status_code == 200
    assert "pass=" in poll_url(response)


def test_the_window_closing_goes_the_ordinary_way(agent_client):
    closed = make_conversation(inbound_ago=timezone.timedelta(hours=25))
    backdate(closed, make_message(closed, "outbound"))
    url = poll_url(agent_client.get(reverse("chat:conversation", args=[closed.pk]), **HTMX))
    a_while_later(closed)
    assert "open=0" in url
    assert agent_client.get(url, **HTMX).status_code == 204
    # A page that still shows the window open learns it closed (the pass knows when it ends).
    response = agent_client.get(url.replace("open=0", "open=1"), **HTMX)
    assert 'id="composer' in response.content.decode()


def test_a_deleted_conversation_goes_the_ordinary_way(agent_client, opened, chat):
    chat.delete()
    assert agent_client.get(opened, **HTMX).status_code == 404


def test_a_conversation_update_marks_it_without_reading_it_first(chat, django_assert_num_queries):
    a_while_later(chat)
    with django_assert_num_queries(1):
        Conversation.objects.filter(pk=chat.pk).update(unread_count=0, updated_at=timezone.now())
    assert messages_marked_at(chat.pk) > (timezone.now() - timezone.timedelta(seconds=5)).timestamp()


def test_a_conversation_update_by_any_filter_marks_what_it_changed(chat):
    quiet = make_conversation(phone="+14155550123", name="Ben")
    a_while_later(chat)
    a_while_later(quiet)
    Conversation.objects.filter(contact_name="Asha Patel").update(updated_at=timezone.now())
    recent = (timezone.now() - timezone.timedelta(seconds=5)).timestamp()
    assert messages_marked_at(chat.pk) > recent
    assert messages_marked_at(quiet.pk) < recent
