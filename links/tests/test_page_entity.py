from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from chat.models import Message
from chat.tests.conftest import make_conversation, make_message
from links.models import EntityLink
from links.services import entity_link_create

HTMX = {"HTTP_HX_REQUEST": "true"}


def entity_url(entity_type="project", entity_id="42"):
    return reverse("links:entity", args=[entity_type, entity_id])


def test_it_shows_only_the_messages_linked_to_the_record_grouped_by_conversation(agent_client, db):
    asha = make_conversation(phone="+919876543210", name="Asha Patel", inbound_ago=timezone.timedelta(hours=1))
    ben = make_conversation(phone="+14155550123", name="Ben Ode", inbound_ago=timezone.timedelta(hours=1))
    linked = [make_message(asha, message_body="site photo"), make_message(ben, message_body="ben's quote")]
    make_message(asha, message_body="unrelated chatter")
    other = make_message(ben, message_body="other project")
    for message in linked:
        entity_link_create(message=message, entity_type="project", entity_id="42")
    entity_link_create(message=other, entity_type="project", entity_id="43")
    body = agent_client.get(entity_url()).content.decode()
    assert "site photo" in body
    assert "ben's quote" in body
    assert "unrelated chatter" not in body
    assert "other project" not in body
    assert body.count('class="entity-group"') == 2
    assert "Messages sent here are linked to Project #42." in body


def test_it_can_be_framed_by_the_same_site_only(agent_client, db):
    response = agent_client.get(entity_url())
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "No WhatsApp messages are linked to this record yet." in response.content.decode()


def test_it_links_what_the_entity_composer_sends(agent_client, db):
    chat = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    entity_link_create(message=make_message(chat), entity_type="lead", entity_id="L9")
    composer = agent_client.get(
        reverse("chat:composer", args=[chat.pk]), {"entity_type": "lead", "entity_id": "L9"}, **HTMX
    ).content.decode()
    assert 'name="entity_type" value="lead"' in composer
    agent_client.post(
        reverse("chat:message_send", args=[chat.pk]),
        {"body": "re lead", "entity_type": "lead", "entity_id": "L9"},
        **HTMX,
    )
    sent = Message.objects.get(message_body="re lead")
    assert EntityLink.objects.filter(message=sent, entity_type="lead", entity_id="L9").exists()


def test_it_polls_the_entity_view_and_answers_204_when_nothing_changed(agent_client, db):
    chat = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    entity_link_create(message=make_message(chat, message_body="first"), entity_type="project", entity_id="42")
    body = agent_client.get(entity_url()).content.decode()
    cursor = body.split("poll?cursor=", 1)[1].split('"', 1)[0]
    poll = reverse("links:entity_poll", args=["project", "42"])
    from urllib.parse import unquote

    assert agent_client.get(poll, {"cursor": unquote(cursor)}, **HTMX).status_code == 204
    entity_link_create(message=make_message(chat, message_body="second"), entity_type="project", entity_id="42")
    response = agent_client.get(poll, {"cursor": unquote(cursor)}, **HTMX)
    assert response.status_code == 200
    assert "second" in response.content.decode()


def test_it_answers_404_for_an_unknown_record_type(agent_client, db):
    assert agent_client.get(entity_url("invoice", "1")).status_code == 404


def test_it_refuses_the_entity_view_without_the_chat_permission(client, outsider):
    client.force_login(outsider)
    assert client.get(entity_url()).status_code == 403


def test_it_handles_record_ids_with_slashes_and_odd_characters(agent_client, db):
    chat = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    message = make_message(chat, message_body="invoice copy")
    for entity_id in ("INV/2026/7", "a b?c#d", "x/poll"):
        entity_link_create(message=message, entity_type="project", entity_id=entity_id)
        body = agent_client.get(entity_url("project", entity_id)).content.decode()
        assert "invoice copy" in body
        poll = reverse("links:entity_poll", args=["project", entity_id])
        assert agent_client.get(poll, **HTMX).status_code == 200
    page = agent_client.get(reverse("chat:conversation", args=[chat.pk])).content.decode()
    assert "Project #INV/2026/7" in page


# --- paging: the newest 50, then older pages ---


def linked_history(count, chats):
    """`count` messages linked to project 42, spread over `chats` in turn, oldest first."""
    messages = []
    for n in range(count):
        message = make_message(chats[n % len(chats)], message_body=f"note {n}")
        entity_link_create(message=message, entity_type="project", entity_id="42")
        messages.append(message)
    return messages


def bubble_ids(body):
    return [int(part.split('"', 1)[0]) for part in body.split('" data-id="')[1:]]


def loader_url(body):
    if 'id="entity-older"' not in body:
        return None
    return unescape(body.split('id="entity-older" hx-get="', 1)[1].split('"', 1)[0])


@pytest.fixture
def two_chats(db):
    return [
        make_conversation(phone="+919876543210", name="Asha Patel", inbound_ago=timezone.timedelta(hours=1)),
        make_conversation(phone="+14155550123", name="Ben Ode", inbound_ago=timezone.timedelta(hours=1)),
    ]


def test_it_shows_the_newest_fifty_linked_messages_and_a_loader_for_older_ones(agent_client, two_chats):
    messages = linked_history(60, two_chats)
    body = agent_client.get(entity_url()).content.decode()
    assert sorted(bubble_ids(body)) == [m.pk for m in messages[10:]]
    older = reverse("links:entity_older", args=["project", "42"])
    assert loader_url(body).startswith(f"{older}?before={messages[10].pk}&cursor=")


def test_it_shows_no_loader_when_everything_fits_on_the_first_page(agent_client, two_chats):
    linked_history(50, two_chats)
    body = agent_client.get(entity_url()).content.decode()
    assert len(bubble_ids(body)) == 50
    assert loader_url(body) is None


def test_it_pages_back_to_the_oldest_linked_message(agent_client, two_chats):
    messages = linked_history(130, two_chats)
    body = agent_client.get(entity_url(), **HTMX).content.decode()
    seen = bubble_ids(body)
    pages = 1
    while url := loader_url(body):
        body = agent_client.get(url, **HTMX).content.decode()
        assert len(bubble_ids(body)) <= 50
        seen += bubble_ids(body)
        pages += 1
    assert pages == 3
    assert sorted(seen) == [m.pk for m in messages]


def test_it_puts_older_messages_into_the_groups_shown_and_new_conversations_below(agent_client, two_chats):
    asha, ben = two_chats
    carl = make_conversation(phone="+447911123456", name="Carl Jones", inbound_ago=timezone.timedelta(hours=1))
    oldest = linked_history(5, [carl])
    linked_history(60, [asha, ben])
    first = agent_client.get(entity_url()).content.decode()
    assert "Carl Jones" not in first
    older = agent_client.get(loader_url(first), **HTMX).content.decode()
    assert f'hx-swap-oob="afterbegin:#entity-list-{asha.pk}"' in older
    assert f'hx-swap-oob="afterbegin:#entity-list-{ben.pk}"' in older
    assert f'<section class="entity-group" id="entity-group-{carl.pk}">' in older
    assert f'id="m-{oldest[0].pk}"' in older
    assert loader_url(older) is None


def test_its_poll_keeps_the_older_pages_loaded(agent_client, two_chats):
    messages = linked_history(60, two_chats)
    first = agent_client.get(entity_url()).content.decode()
    older = agent_client.get(loader_url(first), **HTMX).content.decode()
    poll = unescape(older.split('id="entity-poll" hidden hx-swap-oob="true" hx-get="', 1)[1].split('"', 1)[0])
    assert f"from={messages[0].pk}" in poll
    linked_history(1, two_chats)
    body = agent_client.get(poll, **HTMX).content.decode()
    assert len(bubble_ids(body)) == 61
    assert loader_url(body) is None


def test_it_renders_the_first_page_for_htmx_and_as_a_whole_page(agent_client, two_chats):
    linked_history(60, two_chats)
    partial = agent_client.get(entity_url(), **HTMX).content.decode()
    page = agent_client.get(entity_url()).content.decode()
    assert "<html" not in partial
    assert "<html" in page
    assert len(bubble_ids(partial)) == len(bubble_ids(page)) == 50
    assert loader_url(partial) == loader_url(page)


def test_it_refuses_an_older_page_without_a_cursor(agent_client, db):
    assert agent_client.get(reverse("links:entity_older", args=["project", "42"])).status_code == 400
