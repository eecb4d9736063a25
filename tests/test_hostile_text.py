"""Customer text built to break the page is stored exactly as sent and shown as plain text."""

import json

import pytest
from django.urls import NoReverseMatch, reverse

from chat.models import Conversation, Label, Message
from chat.services import inbox
from integrations.inbound import process_webhook_event
from integrations.models import WebhookEvent
from tests.hostile import EMOJI, FILE_NAME, INJECTED, NAME, PAYLOADS, SHORT, tasks_recorded  # noqa: F401
from tests.test_security_headers import inline_code

CUSTOMER = "919876543210"
pytestmark = pytest.mark.usefixtures("tasks_recorded")


def deliver(*messages, name=NAME):
    """One webhook delivery from the customer, processed as the worker processes it."""
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                            "contacts": [{"profile": {"name": name}, "wa_id": CUSTOMER}],
                            "messages": list(messages),
                        },
                    }
                ],
            }
        ],
    }
    event = WebhookEvent.objects.create(body=json.dumps(body).encode())
    process_webhook_event(event.pk)


def text(n, body):
    return {
        "from": CUSTOMER,
        "id": f"wamid.HOSTILE{n}",
        "timestamp": "1764140000",
        "type": "text",
        "text": {"body": body},
    }


@pytest.fixture
def hostile_chat(db, django_capture_on_commit_callbacks):
    # Commit callbacks (media downloads) are captured, not run: nothing here needs the worker.
    with django_capture_on_commit_callbacks(execute=False):
        deliver(*(text(n, body) for n, body in enumerate(PAYLOADS.values())))
        document = {
            "from": CUSTOMER,
            "id": "wamid.HOSTILEDOC",
            "timestamp": "1764140001",
            "type": "document",
            "document": {
                "caption": SHORT["formatting"],
                "filename": FILE_NAME,
                "mime_type": "application/pdf",
                "id": "1",
            },
        }
        reaction = {
            "from": CUSTOMER,
            "id": "wamid.HOSTILEREACT",
            "timestamp": "1764140002",
            "type": "reaction",
            "reaction": {"message_id": "wamid.HOSTILE0", "emoji": EMOJI},
        }
        deliver(document, reaction)
    return Conversation.objects.get()


def test_it_stores_hostile_customer_text_exactly_as_sent(hostile_chat):
    assert hostile_chat.contact_name == NAME
    for n, body in enumerate(PAYLOADS.values()):
        assert Message.objects.get(whatsapp_message_id=f"wamid.HOSTILE{n}").message_body == body
    assert len(Message.objects.get(whatsapp_message_id="wamid.HOSTILE11").message_body) == 65_000
    document = Message.objects.get(whatsapp_message_id="wamid.HOSTILEDOC")
    assert document.caption == SHORT["formatting"]
    assert document.file_name == FILE_NAME
    reaction = Message.objects.get(whatsapp_message_id="wamid.HOSTILEREACT")
    assert EMOJI in json.dumps(reaction.data, ensure_ascii=False) or reaction.message_body == EMOJI


def conversation_url(conversation):
    try:
        return reverse("chat:conversation", args=[conversation.pk])
    except NoReverseMatch:
        return None


def test_it_renders_hostile_text_as_text_in_the_page_and_its_partials(hostile_chat, agent_client):
    url = conversation_url(hostile_chat)
    if url is None:
        pytest.skip("the chat page's conversation view is not routed yet")
    pages = [
        agent_client.get(url),
        agent_client.get(url, HTTP_HX_REQUEST="true"),
        agent_client.get(reverse("chat:page")),
    ]
    for response in pages:
        assert response.status_code == 200
        html = response.content.decode()
        assert inline_code(html) == []
        for mark in INJECTED:
            assert mark not in html, mark
    full = pages[0].content.decode()
    assert "&lt;script&gt;window.__pwned" in full  # shown, as text
    assert "\u202egpj.exe" in full  # kept as typed; the browser isolates it (see the browser test)


def test_the_contact_panel_and_the_transcript_show_hostile_text_as_text(hostile_chat, agent_client, agent):
    label = Label.objects.create(name="<svg onload=alert('label')>", colour="red")
    inbox.conversation_label_add(conversation=hostile_chat, actor=agent, label=label)
    inbox.conversation_rename(conversation=hostile_chat, actor=agent, name=NAME + " (staff)")
    panel = agent_client.get(reverse("chat:conversation_contact", args=[hostile_chat.pk]), HTTP_HX_REQUEST="true")
    transcript = agent_client.get(reverse("chat:conversation_transcript", args=[hostile_chat.pk]))
    page = agent_client.get(reverse("chat:conversation", args=[hostile_chat.pk]))
    for html in (
        panel.content.decode(),
        b"".join(transcript.streaming_content).decode(),
        page.content.decode(),
    ):
        assert inline_code(html) == []
        for mark in (*INJECTED, "<img src=x", "<svg onload"):
            assert mark not in html, mark
    csv = b"".join(agent_client.get(reverse("chat:conversation_export_csv", args=[hostile_chat.pk])).streaming_content)
    assert NAME.encode() in csv  # data, as typed (the CSV is never HTML)
