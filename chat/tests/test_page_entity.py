from django.urls import reverse
from django.utils import timezone

from chat.models import Message
from chat.tests.conftest import make_conversation, make_message
from links.models import EntityLink
from links.services import entity_link_create

HTMX = {"HTTP_HX_REQUEST": "true"}


def entity_url(entity_type="project", entity_id="42"):
    return reverse("chat:entity", args=[entity_type, entity_id])


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
    poll = reverse("chat:entity_poll", args=["project", "42"])
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
        poll = reverse("chat:entity_poll", args=["project", entity_id])
        assert agent_client.get(poll, **HTMX).status_code == 200
    page = agent_client.get(reverse("chat:conversation", args=[chat.pk])).content.decode()
    assert "Project #INV/2026/7" in page
