"""Starting a conversation: the sidebar's offer for a new number, the new-chat composer, the first template."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Message, MessageTemplate
from chat.tests.conftest import make_conversation, make_message
from integrations.tasks import message_send_task
from integrations.templates import templates_sync
from links.models import EntityLink

HTMX = {"HTTP_HX_REQUEST": "true"}
NEW = "+12025550123"


@pytest.fixture
def every_part(db):
    """A template with a parameter in each place one can be: header, body, a URL button, a copy-code button."""
    return MessageTemplate.objects.create(
        name="shipment_ready",
        language="en_US",
        status="APPROVED",
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["MD-1042"]}},
            {
                "type": "BODY",
                "text": "Hello {{1}}, order {{2}} is ready.",
                "example": {"body_text": [["Asha", "MD-1042"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Track",
                        "url": "https://t.example/track/{{1}}",
                        "example": ["https://t.example/track/trk42"],
                    },
                    {"type": "COPY_CODE", "text": "Copy offer code", "example": "SAVE20"},
                ],
            },
        ],
    )


FILLED = {
    "header_1": "MD-7",
    "body_1": "Ravi",
    "body_2": "MD-7",
    "button_0_1": "trk7",
    "button_1_code": "THANKS10",
}


def sidebar(client, query):
    return client.get(reverse("chat:sidebar"), {"q": query}, **HTMX).content.decode()


def start(client, template, to=NEW, **fields):
    data = {"to": to, "template": template.pk, "idempotency_key": "first", **fields}
    return client.post(reverse("chat:new_chat_send"), data, **HTMX)


def test_it_offers_to_message_a_number_typed_in_any_format(agent_client, db):
    for typed in ("+1 (202) 555-0123", "001 202 555 0123", "12025550123"):
        body = sidebar(agent_client, typed)
        assert "Message +1 202 555 0123" in body
        assert f"{reverse('chat:new_chat')}?to=%2B12025550123" in body


def test_it_offers_nothing_for_a_number_that_has_a_conversation(agent_client, db):
    chat = make_conversation(phone=NEW, name="Ravi")
    make_message(chat)
    body = sidebar(agent_client, "+1 202-555-0123")
    assert "Message +1 202" not in body
    assert f'id="conversation-{chat.pk}"' in body


def test_it_offers_nothing_for_a_name_or_a_number_too_short(agent_client, db):
    assert "Message " not in sidebar(agent_client, "Asha")
    assert "new-chat-offer" not in sidebar(agent_client, "5550123")


def test_the_new_chat_button_asks_for_a_number(agent_client, db):
    page = agent_client.get(reverse("chat:page")).content.decode()
    assert f'href="{reverse("chat:new_chat")}"' in page
    body = agent_client.get(reverse("chat:new_chat"), **HTMX).content.decode()
    assert 'name="to"' in body
    assert "New chat" in body


def test_a_new_number_gets_a_template_composer_and_no_conversation_yet(agent_client, every_part):
    response = agent_client.get(reverse("chat:new_chat"), {"to": "+1 202 555 0123"}, **HTMX)
    body = response.content.decode()
    assert "Message +1 202 555 0123" in body
    assert f'<input type="hidden" name="to" value="{NEW}">' in body
    assert f'<option value="{every_part.pk}">shipment_ready (en_US)</option>' in body
    assert f'action="{reverse("chat:new_chat_send")}"' in body
    assert response["HX-Retarget"] == "#pane"
    assert not Conversation.objects.exists()


def test_it_explains_a_number_it_cannot_read(agent_client, db):
    body = agent_client.get(reverse("chat:new_chat"), {"to": "12345"}, **HTMX).content.decode()
    assert "Enter a valid phone number with its country code" in body
    assert 'value="12345"' in body
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("typed", ["+1 202 555 0123", "0012025550123", "1 (202) 555-0123"])
def test_a_number_with_a_conversation_opens_it_never_a_duplicate(agent_client, db, typed):
    chat = make_conversation(phone=NEW, name="Ravi")
    response = agent_client.get(reverse("chat:new_chat"), {"to": typed}, **HTMX)
    assert f'data-conversation="{chat.pk}"' in response.content.decode()
    assert response["HX-Push-Url"] == reverse("chat:conversation", args=[chat.pk])
    assert Conversation.objects.count() == 1


def test_a_known_whatsapp_user_id_opens_its_conversation(agent_client, db):
    chat = Conversation.objects.create(wa_user_id="US.13491208655302741918", contact_name="Ravi")
    response = agent_client.get(reverse("chat:new_chat"), {"to": "US.13491208655302741918"}, **HTMX)
    assert f'data-conversation="{chat.pk}"' in response.content.decode()
    assert Conversation.objects.count() == 1


def test_the_template_form_labels_every_parameter_in_plain_words(agent_client, every_part):
    body = agent_client.get(reverse("chat:template_fields"), {"template": every_part.pk}, **HTMX).content.decode()
    for label, name, example in [
        ("Header value 1", "header_1", "MD-1042"),
        ("Body value 1", "body_1", "Asha"),
        ("Body value 2", "body_2", "MD-1042"),
        ("Button &#x27;Track&#x27; link ending", "button_0_1", "trk42"),
        ("Button &#x27;Copy offer code&#x27; code to copy", "button_1_code", "SAVE20"),
    ]:
        assert f'<span class="template-param-label">{label}</span> <input name="{name}" value=""' in body
        assert f'placeholder="{example}"' in body
    assert "{{" not in body.replace('data-placeholder="{{', "").replace(">{{", "")


def test_the_first_template_creates_the_conversation_and_fills_every_component(
    agent_client, every_part, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = start(agent_client, every_part, to="+1 202-555-0123", **FILLED)
    chat = Conversation.objects.get()
    message = Message.objects.get()
    assert (chat.other_party, message.conversation_id, message.status) == (NEW, chat.pk, "queued")
    assert [callback.args for callback in callbacks] == [(message.pk,)]
    assert message.message_body == "Hello Ravi, order MD-7 is ready."
    assert message.data["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "MD-7"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ravi"}, {"type": "text", "text": "MD-7"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "trk7"}]},
        {
            "type": "button",
            "sub_type": "copy_code",
            "index": "1",
            "parameters": [{"type": "coupon_code", "coupon_code": "THANKS10"}],
        },
    ]
    # The pane becomes the new conversation.
    assert response["HX-Retarget"] == "#pane"
    assert response["HX-Push-Url"] == reverse("chat:conversation", args=[chat.pk])
    assert f'data-conversation="{chat.pk}"' in response.content.decode()


def test_a_refused_send_leaves_no_conversation_and_keeps_what_was_typed(agent_client, every_part):
    typed = {**FILLED, "button_1_code": ""}
    body = start(agent_client, every_part, **typed).content.decode()
    assert "Fill in Button &#x27;Copy offer code&#x27; code to copy." in body
    assert f'<option value="{every_part.pk}" selected>' in body
    assert 'name="body_1" value="Ravi"' in body
    assert f'name="to" value="{NEW}"' in body
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_a_send_the_template_check_refuses_leaves_no_conversation(agent_client, db):
    template = MessageTemplate.objects.create(
        name="invoice",
        language="en",
        status="APPROVED",
        components=[{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Invoice {{1}}"}],
    )
    # Passes the form, then template_fill refuses the address (WhatsApp could not fetch it).
    body = start(agent_client, template, header_link="http://127.0.0.1/invoice.pdf", body_1="INV-7").content.decode()
    assert "The header document parameter must be its public address" in body
    assert 'name="header_link" value="http://127.0.0.1/invoice.pdf"' in body
    assert not Conversation.objects.exists()


def test_a_second_first_send_to_the_same_number_joins_its_conversation(agent_client, every_part):
    start(agent_client, every_part, **FILLED)
    start(agent_client, every_part, to="0012025550123", **{**FILLED, "idempotency_key": "second"})
    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 2


def test_an_uploaded_header_document_is_kept_for_the_worker(agent_client, db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    template = MessageTemplate.objects.create(
        name="invoice",
        language="en",
        status="APPROVED",
        components=[{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Invoice {{1}}"}],
    )
    pdf = SimpleUploadedFile("INV-7.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
    start(agent_client, template, body_1="INV-7", header_file=pdf)
    message = Message.objects.get()
    assert message.file
    assert message.mime_type == "application/pdf"
    assert message.data["template"]["components"][0] == {
        "type": "header",
        "parameters": [{"type": "document", "document": {"filename": "INV-7.pdf"}}],
    }


def test_the_entity_view_starts_a_conversation_linked_to_its_record(agent_client, every_part):
    page = agent_client.get(reverse("links:entity", args=["project", "42"])).content.decode()
    assert 'id="new-chat"' in page
    assert "Start a conversation about Project #42" in page
    composer = agent_client.get(
        reverse("chat:new_chat"), {"to": NEW, "entity_type": "project", "entity_id": "42"}, **HTMX
    )
    body = composer.content.decode()
    assert composer["HX-Retarget"] == "#new-chat"
    assert '<input type="hidden" name="entity_type" value="project">' in body
    assert 'id="new-chat-composer"' in body
    response = start(agent_client, every_part, entity_type="project", entity_id="42", **FILLED)
    link = EntityLink.objects.get()
    assert (link.entity_type, link.entity_id, link.message.conversation.other_party) == ("project", "42", NEW)
    assert "chatChanged" in response["HX-Trigger"]  # the entity view's poll shows the message
    assert response["HX-Retarget"] == "#new-chat"


def test_starting_needs_the_chat_permission(client, outsider, every_part):
    client.force_login(outsider)
    assert client.get(reverse("chat:new_chat"), {"to": NEW}).status_code == 403
    assert start(client, every_part, **FILLED).status_code == 403
    assert not Conversation.objects.exists()


def test_a_plain_form_post_goes_to_the_new_conversation(agent_client, every_part):
    data = {"to": NEW, "template": every_part.pk, **FILLED}
    response = agent_client.post(reverse("chat:new_chat_send"), data)
    chat = Conversation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("chat:conversation", args=[chat.pk])


def test_the_window_closed_composer_of_an_existing_conversation_sends_every_part(agent_client, every_part):
    chat = make_conversation(phone=NEW, inbound_ago=timezone.timedelta(days=3))
    data = {"template": every_part.pk, **FILLED}
    agent_client.post(reverse("chat:message_send", args=[chat.pk]), data, **HTMX)
    message = Message.objects.get(conversation=chat)
    assert [c["type"] for c in message.data["template"]["components"]] == ["header", "body", "button", "button"]


# --- Against the Cloud API simulator: what a started conversation's first message is on the wire ----------


def test_a_started_conversations_template_arrives_at_whatsapp_with_every_part(
    agent_client, whatsapp, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    templates_sync()
    appointment = MessageTemplate.objects.get(name="appointment_reminder")
    fields = {"header_1": "Ravi", "body_1": "3 May", "body_2": "10:30", "button_0_1": "A-17"}
    start(agent_client, appointment, **fields)
    invoice = MessageTemplate.objects.get(name="invoice_document")
    pdf = SimpleUploadedFile("INV-7.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
    start(agent_client, invoice, body_1="INV-7", header_file=pdf, idempotency_key="second")
    first, second = Message.objects.order_by("pk")
    assert message_send_task(first.pk) == "sent"
    assert message_send_task(second.pk) == "sent"
    (reminder, document) = [send["body"] for send in whatsapp.state()["sends"]]
    assert reminder["to"] == document["to"] == NEW
    assert reminder["template"]["name"] == "appointment_reminder"
    assert reminder["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "Ravi"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "3 May"}, {"type": "text", "text": "10:30"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "A-17"}]},
    ]
    header = document["template"]["components"][0]["parameters"][0]
    second.refresh_from_db()
    assert header == {"type": "document", "document": {"filename": "INV-7.pdf", "id": second.media_id}}
    assert Conversation.objects.get().other_party == NEW


def test_without_javascript_new_chat_is_a_whole_page(agent_client, every_part):
    body = agent_client.get(reverse("chat:new_chat"), {"to": "+1 202 555 0123"}).content.decode()
    assert 'id="sidebar"' in body
    assert "Message +1 202 555 0123" in body
    entity = agent_client.get(
        reverse("chat:new_chat"), {"to": NEW, "entity_type": "project", "entity_id": "42"}
    ).content.decode()
    assert reverse("links:entity", args=["project", "42"]) in entity
    assert 'id="new-chat-composer"' in entity
    response = start(agent_client, every_part, entity_type="project", entity_id="42", **FILLED)
    assert "Sent to" in response.content.decode()
    plain = agent_client.post(
        reverse("chat:new_chat_send"),
        {"to": NEW, "template": every_part.pk, "entity_type": "project", "entity_id": "42", **FILLED},
    )
    assert plain["Location"] == reverse("links:entity", args=["project", "42"])


def test_a_header_file_of_the_wrong_kind_is_refused_and_leaves_no_conversation(agent_client, db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    template = MessageTemplate.objects.create(
        name="photo_offer",
        language="en",
        status="APPROVED",
        components=[{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Our offer"}],
    )
    pdf = SimpleUploadedFile("offer.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
    body = start(agent_client, template, header_file=pdf).content.decode()
    assert "WhatsApp cannot send files of type application/pdf as a photo." in body
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_named_parameters_are_labelled_by_their_names_and_sent_with_them(agent_client, db):
    template = MessageTemplate.objects.create(
        name="welcome",
        language="en",
        status="APPROVED",
        components=[
            {
                "type": "BODY",
                "text": "Welcome {{first_name}}, your advisor is {{advisor}}.",
                "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Asha"}]},
            }
        ],
    )
    fields = agent_client.get(reverse("chat:template_fields"), {"template": template.pk}, **HTMX).content.decode()
    assert '<span class="template-param-label">Body: first name</span> <input name="body_first_name"' in fields
    assert 'placeholder="Asha"' in fields
    assert '<span class="template-param-label">Body: advisor</span>' in fields
    start(agent_client, template, body_first_name="Ravi", body_advisor="Meera")
    assert Message.objects.get().data["template"]["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Ravi", "parameter_name": "first_name"},
                {"type": "text", "text": "Meera", "parameter_name": "advisor"},
            ],
        }
    ]
