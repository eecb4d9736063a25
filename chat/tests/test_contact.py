"""The contact's details: a display name staff set (the WhatsApp profile name never overwrites it) and the panel."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Label, Message
from chat.selectors.conversations import conversation_list, notify_state
from chat.services import conversation_for_customer, conversation_get_or_create, inbox
from chat.tests.conftest import make_conversation, make_message
from links.services import entity_link_create

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def fresh(chat):
    return Conversation.objects.get(pk=chat.pk)


def test_a_name_staff_set_survives_every_profile_name_whatsapp_sends(agent):
    chat = make_conversation(name="asha_p")
    inbox.conversation_rename(conversation=chat, actor=agent, name="  Asha   Patel (Madio Ltd) ")
    assert fresh(chat).staff_name == "Asha Patel (Madio Ltd)"
    conversation_for_customer(phone=chat.other_party, user_id=None, name="Asha 🌸", at=timezone.now())
    conversation_get_or_create(phone=chat.other_party, name="Asha again")
    chat = fresh(chat)
    assert chat.staff_name == "Asha Patel (Madio Ltd)"
    assert chat.contact_name == "Asha again"  # the profile name is still kept current
    assert chat.display_name == "Asha Patel (Madio Ltd)"
    assert chat.profile_name_shown == "Asha again"


def test_the_username_follows_the_newest_message_like_the_profile_name(agent):
    chat = make_conversation(name="asha_p")
    now = timezone.now()
    conversation_for_customer(phone=chat.other_party, user_id=None, name="Asha", at=now, username="asha.builds")
    Conversation.objects.filter(pk=chat.pk).update(last_inbound_at=now)
    older = now - timezone.timedelta(minutes=5)
    conversation_for_customer(phone=chat.other_party, user_id=None, name="Old", at=older, username="old.name")
    chat = fresh(chat)
    assert (chat.contact_name, chat.wa_username, chat.staff_name) == ("Asha", "asha.builds", "")


def test_an_empty_name_shows_the_profile_name_again(agent):
    chat = make_conversation(name="asha_p")
    inbox.conversation_rename(conversation=chat, actor=agent, name="Asha")
    inbox.conversation_rename(conversation=chat, actor=agent, name="   ")
    chat = fresh(chat)
    assert chat.staff_name == ""
    assert chat.display_name == "asha_p"
    assert chat.profile_name_shown == ""
    lines = Message.objects.filter(conversation=chat, message_type="activity").values_list("message_body", flat=True)
    assert list(lines) == ["alice named the contact Asha", "alice cleared the contact's name"]


def test_the_same_name_again_changes_nothing(agent):
    chat = make_conversation()
    inbox.conversation_rename(conversation=chat, actor=agent, name="Asha")
    inbox.conversation_rename(conversation=chat, actor=agent, name="Asha")
    assert Message.objects.filter(conversation=chat, message_type="activity").count() == 1


@pytest.mark.parametrize(
    ("name", "sentence"), [("x" * 257, "at most 256"), ("a\x00b", "plain text"), (None, "plain text")]
)
def test_it_refuses_a_name_it_cannot_store_naming_the_field(agent, name, sentence):
    chat = make_conversation()
    with pytest.raises(inbox.InboxRefused) as refused:
        inbox.conversation_rename(conversation=chat, actor=agent, name=name)
    assert refused.value.field == "display_name"
    assert sentence in refused.value.sentence
    assert fresh(chat).staff_name == ""


def test_search_and_notifications_use_the_name_staff_set(agent):
    chat = make_conversation(name="asha_p")
    make_message(chat)
    inbox.conversation_rename(conversation=chat, actor=agent, name="Madio Supplier")
    assert conversation_list(query="supplier", user=agent) == [chat]
    assert conversation_list(query="asha_p", user=agent) == [chat]  # the profile name still finds them
    assert notify_state(user=agent)["conversations"][0]["title"] == "Madio Supplier"


def test_renaming_from_the_panel_shows_both_names_in_the_header_and_the_sidebar(agent_client):
    chat = make_conversation(name="asha_p")
    make_message(chat)
    header = agent_client.post(
        reverse("chat:conversation_rename", args=[chat.pk]), {"display_name": "Asha Patel"}, **HTMX
    ).content.decode()
    assert '<strong class="name">Asha Patel</strong>' in header
    assert "~<bdi>asha_p</bdi>" in header
    sidebar = agent_client.get(reverse("chat:sidebar"), **HTMX).content.decode()
    assert '<span class="name">Asha Patel</span>' in sidebar


def test_a_refused_name_says_why_in_the_header(agent_client):
    chat = make_conversation()
    header = agent_client.post(reverse("chat:conversation_rename", args=[chat.pk]), {"display_name": "x" * 300}, **HTMX)
    assert "A name has at most 256 characters." in header.content.decode()


def test_the_panel_shows_number_first_contact_labels_records_and_the_name_form(agent_client, agent):
    chat = make_conversation(name="asha_p")
    Conversation.objects.filter(pk=chat.pk).update(wa_user_id="US.13491208655302741918", wa_username="asha.builds")
    first = make_message(chat)
    make_message(chat)
    entity_link_create(message=first, entity_type="project", entity_id="42")
    chat.labels.add(Label.objects.create(name="VIP", colour="teal"))
    inbox.conversation_rename(conversation=chat, actor=agent, name="Asha Patel")
    body = agent_client.get(reverse("chat:conversation_contact", args=[chat.pk]), **HTMX).content.decode()
    assert "<dd>+919876543210</dd>" in body
    assert "US.13491208655302741918" in body
    assert "<dt>WhatsApp username</dt><dd><bdi>@asha.builds</bdi></dd>" in body
    assert "<dt>WhatsApp profile name</dt><dd><bdi>asha_p</bdi></dd>" in body
    assert re.search(r"<dt>First contact</dt><dd><time datetime=", body)
    assert 'class="label-chip label-teal">VIP<' in body
    assert reverse("links:entity", args=["project", "42"]) in body
    assert "(1 message)" in body
    assert 'name="display_name" value="Asha Patel"' in body


def test_the_panel_of_a_customer_known_by_user_id_alone(agent_client):
    chat = Conversation.objects.create(wa_user_id="US.1349", contact_name="")
    body = agent_client.get(reverse("chat:conversation_contact", args=[chat.pk]), **HTMX).content.decode()
    assert "<dt>Number</dt>" not in body
    assert "<dt>WhatsApp user id</dt><dd><bdi>US.1349</bdi></dd>" in body
    assert "<dt>Linked records</dt><dd>None</dd>" in body


def test_the_panel_escapes_what_the_customer_and_staff_typed(agent_client, agent):
    chat = make_conversation(name="<img src=x onerror=alert(1)>")
    inbox.conversation_rename(conversation=chat, actor=agent, name='"><script>alert(2)</script>')
    body = agent_client.get(reverse("chat:conversation_contact", args=[chat.pk]), **HTMX).content.decode()
    assert "<img src=x" not in body
    assert "<script>alert" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert 'value="&quot;&gt;&lt;script&gt;' in body


def test_a_hidden_conversations_panel_and_name_are_not_there(agent_client, settings, django_user_model):
    settings.CHAT_AGENTS_SEE_OWN_ONLY = True
    chat = make_conversation(assignee=django_user_model.objects.create_user(username="ravi"))
    assert agent_client.get(reverse("chat:conversation_contact", args=[chat.pk]), **HTMX).status_code == 404
    response = agent_client.post(reverse("chat:conversation_rename", args=[chat.pk]), {"display_name": "X"})
    assert response.status_code == 404
    assert fresh(chat).staff_name == ""
