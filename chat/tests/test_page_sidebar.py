from importlib import import_module

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Message
from chat.services.notes import note_add
from chat.tests.conftest import backdate, make_conversation, make_message

HTMX = {"HTTP_HX_REQUEST": "true"}


def row_order(body, names):
    return sorted(names, key=body.index)


def test_it_lists_conversations_by_last_activity_with_preview_and_unread_badge(agent_client, db):
    older = make_conversation(phone="+919876543210", name="Asha Patel")
    newer = make_conversation(phone="+14155550123", name="Ben Ode")
    make_message(older, message_body="first question", whatsapp_timestamp=timezone.now() - timezone.timedelta(hours=2))
    make_message(newer, message_body="hi there")
    make_message(newer, message_body="are you open today?")
    body = agent_client.get(reverse("chat:page")).content.decode()
    assert row_order(body, ["Ben Ode", "Asha Patel"]) == ["Ben Ode", "Asha Patel"]
    assert "are you open today?" in body
    assert 'aria-label="2 unread"' in body
    assert 'aria-label="1 unread"' in body


def test_it_shows_the_number_when_a_customer_has_no_name(agent_client, db):
    chat = make_conversation(name="")
    make_message(chat)
    assert "+919876543210" in agent_client.get(reverse("chat:page")).content.decode()


def test_it_shows_relative_times_with_the_exact_time_on_hover(agent_client, db):
    chat = make_conversation()
    at = timezone.now() - timezone.timedelta(days=3)
    make_message(chat, whatsapp_timestamp=at)
    body = agent_client.get(reverse("chat:page")).content.decode()
    weekday = timezone.localtime(at).strftime("%A")
    assert f">{weekday}</time>" in body
    assert f'title="{weekday} ' in body


@pytest.mark.parametrize("typed", ["+91 98765 43210", "0091-98765-43210", "919876543210", "(98765) 43210", "43210"])
def test_it_finds_a_conversation_by_a_phone_number_in_any_format(agent_client, db, typed):
    asha = make_conversation(phone="+919876543210", name="Asha Patel")
    ben = make_conversation(phone="+14155550123", name="Ben Ode")
    make_message(asha), make_message(ben)
    body = agent_client.get(reverse("chat:sidebar"), {"q": typed}, **HTMX).content.decode()
    assert f'id="conversation-{asha.pk}"' in body
    assert f'id="conversation-{ben.pk}"' not in body


def test_it_finds_a_conversation_by_contact_name(agent_client, db):
    asha = make_conversation(phone="+919876543210", name="Asha Patel")
    ben = make_conversation(phone="+14155550123", name="Ben Ode")
    make_message(asha), make_message(ben)
    body = agent_client.get(reverse("chat:sidebar"), {"q": "asha"}, **HTMX).content.decode()
    assert f'id="conversation-{asha.pk}"' in body
    assert f'id="conversation-{ben.pk}"' not in body


def test_it_says_when_nothing_matches_the_search(agent_client, db):
    body = agent_client.get(reverse("chat:sidebar"), {"q": "<b>nobody</b>"}, **HTMX).content.decode()
    assert "No conversation matches" in body
    assert "<b>nobody</b>" not in body


def test_it_answers_an_idle_sidebar_poll_with_204(agent_client, db):
    chat = make_conversation()
    make_message(chat)
    backdate(chat)
    since = timezone.now().isoformat()
    response = agent_client.get(reverse("chat:sidebar"), {"since": since}, **HTMX)
    assert response.status_code == 204
    assert response.content == b""


def test_it_re_renders_the_sidebar_when_a_conversation_changed(agent_client, db):
    chat = make_conversation()
    since = timezone.now() - timezone.timedelta(minutes=1)
    make_message(chat, message_body="new question")
    response = agent_client.get(reverse("chat:sidebar"), {"since": since.isoformat()}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert "new question" in body
    assert 'id="sidebar-poll"' in body  # a fresh cursor for the next poll


def test_it_refuses_a_sidebar_cursor_that_is_not_a_time(agent_client, db):
    assert agent_client.get(reverse("chat:sidebar"), {"since": "yesterday"}).status_code == 400


def test_it_polls_the_sidebar_only_while_the_tab_is_visible(agent_client, db, settings):
    settings.CHAT_POLL_SECONDS = 4
    body = agent_client.get(reverse("chat:page")).content.decode()
    # static/chat/chat.js holds polls while the tab is hidden: a trigger filter would be eval'd, which
    # the Content-Security-Policy forbids (tests/test_csp_browser.py watches it in Chromium).
    assert 'hx-trigger="every 4s, chatChanged from:body, visibilitychange from:document"' in body


def test_it_sends_an_expired_htmx_session_to_the_login_page(client, db):
    response = client.get(reverse("chat:sidebar"), **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_it_refuses_the_sidebar_without_the_chat_permission(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("chat:sidebar")).status_code == 403


def test_it_shows_more_conversations_on_request_and_keeps_them_through_polls(agent_client, db):
    from chat.models import Conversation

    Conversation.objects.bulk_create(
        Conversation(other_party=f"+1415555{i:04d}", contact_name=f"Customer {i:02d}", last_message_at=timezone.now())
        for i in range(55)
    )
    first = agent_client.get(reverse("chat:sidebar"), **HTMX).content.decode()
    assert first.count('class="conversation-row') == 50
    assert "Show more conversations" in first
    more = agent_client.get(reverse("chat:sidebar"), {"limit": 100}, **HTMX).content.decode()
    assert more.count('class="conversation-row') == 55
    assert "Show more conversations" not in more
    assert 'id="sidebar-limit" name="limit" value="100"' in more


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("+91 98765 43210", {"Asha"}),
        ("(98765) 43210", {"Asha"}),
        ("43210", {"Asha"}),
        ("asha", {"Asha"}),
        ("ODE", {"Ben"}),
        ("+1 415", {"Ben"}),
        ("US.1349", {"user id"}),
        ("1349120", {"user id"}),
        ("nobody", set()),
    ],
)
def test_the_sidebar_and_the_api_find_the_same_conversations(agent_client, api_client, db, typed, expected):
    names = {
        make_conversation(phone="+919876543210", name="Asha Patel").pk: "Asha",
        make_conversation(phone="+14155550123", name="Ben Ode").pk: "Ben",
        make_conversation(phone=None, name="", wa_user_id="US.13491208655302741918").pk: "user id",
    }
    for pk in names:
        make_message(Conversation.objects.get(pk=pk))
    sidebar = agent_client.get(reverse("chat:sidebar"), {"q": typed}, **HTMX).content.decode()
    on_page = {name for pk, name in names.items() if f'id="conversation-{pk}"' in sidebar}
    by_api = {names[row["id"]] for row in api_client.get("/api/whatsapp/conversations", {"q": typed}).json()["results"]}
    assert on_page == by_api == expected


def test_the_sidebar_shows_open_conversations_and_filters_by_status_and_owner(agent_client, agent, db):
    mine = make_conversation(phone="+12025550101", name="Mine Open", assignee=agent)
    nobodys = make_conversation(phone="+12025550102", name="Nobody Open")
    done = make_conversation(phone="+12025550103", name="Done Already", status="resolved")
    for chat in (mine, nobodys, done):
        make_message(chat)

    def names(**params):
        body = agent_client.get(reverse("chat:sidebar"), params, **HTMX).content.decode()
        return {chat.contact_name for chat in (mine, nobodys, done) if f'id="conversation-{chat.pk}"' in body}

    assert names() == {"Mine Open", "Nobody Open"}
    assert names(owner="mine") == {"Mine Open"}
    assert names(owner="unassigned") == {"Nobody Open"}
    assert names(status="resolved") == {"Done Already"}
    assert names(status="nonsense", owner="<script>") == {"Mine Open", "Nobody Open"}


def test_each_owner_filter_shows_its_unread_count_and_the_title_what_concerns_me(agent_client, agent, db):
    colleague = agent.__class__.objects.create_user(username="ravi")
    make_message(make_conversation(phone="+12025550101", assignee=agent))
    make_message(make_conversation(phone="+12025550102", assignee=colleague))
    make_message(make_conversation(phone="+12025550103"))
    body = agent_client.get(reverse("chat:page")).content.decode()
    assert 'aria-label="1 with unread messages">1</span>' in body  # mine, unassigned
    assert 'aria-label="3 with unread messages">3</span>' in body  # all
    assert 'id="inbox-title-count" hidden data-count="2"' in body
    assert 'class="assignee-tag"' in body


def row_of(body, conversation):
    start = body.index(f'id="conversation-{conversation.pk}"')
    return body[start : body.index("</li>", start)]


def test_an_outbound_preview_says_you_with_its_ticks_and_a_note_leaves_the_preview_alone(agent_client, agent, db):
    answered = make_conversation(phone="+919876543210", name="Asha Patel")
    make_message(answered, message_body="is it ready?")
    reply = make_message(answered, "outbound", message_body="Yes, since noon", status="delivered")
    waiting = make_conversation(phone="+14155550123", name="Ben Ode")
    make_message(waiting, message_body="hello?")
    note_add(conversation=answered, author=agent, body="@alice he pays on delivery", idempotency_key=None)

    body = agent_client.get(reverse("chat:page")).content.decode()
    asha, ben = row_of(body, answered), row_of(body, waiting)
    assert '<span class="preview-you">You: </span>Yes, since noon' in asha
    assert 'data-status="delivered"' in asha
    assert "pays on delivery" not in asha
    assert "You:" not in ben
    assert "ticks" not in ben

    Message.objects.filter(pk=reply.pk).update(status="read")
    assert 'data-status="read"' in row_of(agent_client.get(reverse("chat:page")).content.decode(), answered)


def test_the_migration_points_each_conversation_at_its_newest_customer_facing_message(agent, db):
    backfill = import_module("chat.migrations.0007_conversation_last_message").point_at_the_newest_message
    chat = make_conversation()
    make_message(chat, message_body="first")
    newest = make_message(chat, "outbound", message_body="second", status="sent")
    Message.objects.create(conversation=chat, direction="internal", message_type="note", status="internal")
    empty = make_conversation(phone="+14155550123", name="Ben Ode")
    Conversation.objects.update(last_message=None)
    backfill(apps, None)
    assert Conversation.objects.get(pk=chat.pk).last_message_id == newest.pk
    assert Conversation.objects.get(pk=empty.pk).last_message_id is None
