"""An idle poll with its pass is answered from the cache alone; anything else goes the ordinary way."""

import re
from html import unescape
from urllib.parse import quote, unquote

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from chat.changes import messages_mark_back, messages_marked_at
from chat.services.conversations import conversation_delete, conversation_get_or_create, conversation_touch
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
    conversation_get_or_create(phone=chat.other_party, name="Asha P. (Pune)")
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
    conversation_delete(conversation=chat)
    assert agent_client.get(opened, **HTMX).status_code == 404


def test_touching_a_conversation_marks_it_without_reading_it_first(chat, django_assert_num_queries):
    a_while_later(chat)
    with django_assert_num_queries(1):
        conversation_touch(conversation_id=chat.pk)
    assert messages_marked_at(chat.pk) > (timezone.now() - timezone.timedelta(seconds=5)).timestamp()


# --- One test per clause of the argument in chat/poll_pass.py ------------------------------


def answers_without_a_query(client, url, django_assert_num_queries):
    with django_assert_num_queries(0):
        return client.get(url, **HTMX).status_code == 204


def test_clause_1_an_unsigned_pass_is_no_pass(agent_client, opened, django_assert_max_num_queries):
    forged = signing.dumps([0, 0, "x"], salt="another-salt")
    url = re.sub(r"pass=[^&]+", f"pass={quote(forged)}", opened)
    with django_assert_max_num_queries(50) as queries:
        response = agent_client.get(url, **HTMX)
    assert len(queries) > 0  # the ordinary way: the session, the user, the conversation
    assert "pass=" in poll_url(response)


def test_clause_2_a_pass_is_no_pass_in_another_session(opened, agent, django_assert_max_num_queries):
    other = Client()
    other.force_login(agent)  # the same user, another session
    with django_assert_max_num_queries(50) as queries:
        response = other.get(opened, **HTMX)
    assert len(queries) > 0
    assert poll_url(response) != opened  # renewed for this session


def test_clause_2_the_pass_does_not_carry_the_session_cookie(agent_client, opened):
    session_key = agent_client.cookies["sessionid"].value
    token = unquote(re.search(r"pass=([^&]+)", opened).group(1))
    assert session_key not in token
    assert session_key not in str(signing.loads(token, salt="chat.poll-pass"))


def test_clause_3_a_pass_serves_only_its_conversation(agent_client, opened, chat, django_assert_max_num_queries):
    other = make_conversation(phone="+14155550123", name="Ben", inbound_ago=timezone.timedelta(hours=1))
    a_while_later(other)
    own, theirs = (reverse("chat:conversation_poll", args=[pk]) for pk in (chat.pk, other.pk))
    with django_assert_max_num_queries(50) as queries:
        agent_client.get(opened.replace(own, theirs), **HTMX)
    assert len(queries) > 0


def test_clause_4_a_pass_lasts_the_permission_cache_delay(agent_client, opened, settings, django_assert_num_queries):
    assert answers_without_a_query(agent_client, opened, django_assert_num_queries)
    settings.CHAT_PERMISSION_CACHE_SECONDS = 0
    response = agent_client.get(opened, **HTMX)
    assert response.status_code == 200  # the ordinary way, with a fresh pass
    assert poll_url(response) != opened


def test_clause_5_a_pass_alone_never_shows_a_message(agent_client, opened, chat):
    thief = Client()  # has the page's URL, pass and all, but not the session
    thief.cookies["sessionid"] = "not-the-session"
    make_message(chat, message_body="The code is 4711")
    for client in (thief, Client()):
        response = client.get(opened, **HTMX)
        assert "4711" not in response.content.decode()
        assert response["HX-Redirect"].startswith(reverse("login"))


def test_clause_6_after_logout_an_old_cookie_hears_only_nothing_changed(
    agent_client, opened, chat, django_assert_num_queries
):
    old_cookie = agent_client.cookies["sessionid"].value
    agent_client.logout()
    replay = Client()
    replay.cookies["sessionid"] = old_cookie
    assert answers_without_a_query(replay, opened, django_assert_num_queries)  # within the pass's life
    make_message(chat, message_body="The code is 4711")
    response = replay.get(opened, **HTMX)
    assert "4711" not in response.content.decode()
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_clause_6_a_deactivated_user_hears_only_nothing_changed(
    agent_client, agent, opened, chat, django_assert_num_queries
):
    agent.is_active = False
    agent.save(update_fields=["is_active"])
    assert answers_without_a_query(agent_client, opened, django_assert_num_queries)  # within the pass's life
    make_message(chat, message_body="The code is 4711")
    response = agent_client.get(opened, **HTMX)
    assert "4711" not in response.content.decode()
    assert response["HX-Redirect"].startswith(reverse("login"))  # an inactive user's session logs nobody in
