import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from chat.models import Message, MessageTemplate
from chat.tests.conftest import make_conversation, make_message
from links.models import EntityLink

HTMX = {"HTTP_HX_REQUEST": "true"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def send(client, chat, **data):
    return client.post(reverse("chat:message_send", args=[chat.pk]), data, **HTMX)


def test_it_queues_a_text_and_answers_with_a_fresh_composer(agent_client, chat, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = send(agent_client, chat, body="  Your order ships *today*  ", idempotency_key="k1")
    message = Message.objects.get(conversation=chat)
    assert (message.direction, message.status, message.message_body) == (
        "outbound",
        "queued",
        "Your order ships *today*",
    )
    assert [callback.args for callback in callbacks] == [(message.pk,)]
    body = response.content.decode()
    assert 'id="composer"' in body
    assert "Your order ships" not in body
    assert "chatChanged" in response["HX-Trigger"]


def test_it_sends_a_double_submitted_message_once(agent_client, chat):
    send(agent_client, chat, body="once", idempotency_key="same")
    send(agent_client, chat, body="once", idempotency_key="same")
    assert Message.objects.filter(conversation=chat).count() == 1


def test_it_redirects_a_plain_form_post_back_to_the_conversation(agent_client, chat):
    response = agent_client.post(reverse("chat:message_send", args=[chat.pk]), {"body": "no js"})
    assert response.status_code == 302
    assert response["Location"] == reverse("chat:conversation", args=[chat.pk])


def test_it_asks_for_a_message_when_the_composer_is_empty(agent_client, chat):
    body = send(agent_client, chat, body="   ").content.decode()
    assert "Type a message or attach a file." in body
    assert not Message.objects.exists()


def test_it_keeps_the_typed_text_when_a_send_is_refused(agent_client, chat):
    body = send(agent_client, chat, body="keep me", link_type="project").content.decode()
    assert "To link the message, choose a record type and enter its id." in body
    assert ">keep me</textarea>" in body


def test_it_stores_an_uploaded_image_with_its_caption(agent_client, chat):
    upload = SimpleUploadedFile("receipt.png", PNG, content_type="image/png")
    send(agent_client, chat, body="the receipt", file=upload)
    message = Message.objects.get(conversation=chat)
    assert (message.message_type, message.caption, message.mime_type) == ("image", "the receipt", "image/png")
    assert message.file_name == "receipt.png"
    assert message.file_size == len(PNG)
    assert message.media_state == "ready"
    assert message.file.read() == PNG


def test_it_sends_a_pdf_as_a_document(agent_client, chat):
    upload = SimpleUploadedFile("quote.pdf", b"%PDF-1.4 quote", content_type="application/pdf")
    send(agent_client, chat, file=upload)
    assert Message.objects.get(conversation=chat).message_type == "document"


@pytest.mark.parametrize(
    ("name", "content_type", "size", "says"),
    [
        ("big.jpg", "image/jpeg", 5 * 1024 * 1024 + 1, "Photos must be JPEG or PNG, at most 5 MB."),
        ("movie.mp4", "video/mp4", 16 * 1024 * 1024 + 1, "Videos must be MP4 or 3GPP, at most 16 MB."),
        ("static.webp", "image/webp", 100 * 1024 + 1, "Stickers must be WebP, at most 100 KB"),
        ("tool.exe", "application/x-msdownload", 10, "WhatsApp cannot send files of type application/x-msdownload"),
        ("vector.svg", "image/svg+xml", 10, "WhatsApp cannot send files of type image/svg+xml"),
    ],
)
def test_it_refuses_files_whatsapp_would_refuse_with_a_clear_message(
    agent_client, chat, name, content_type, size, says
):
    upload = SimpleUploadedFile(name, b"x" * size, content_type=content_type)
    body = send(agent_client, chat, file=upload).content.decode()
    assert says in body
    assert not Message.objects.exists()


def test_it_accepts_an_animated_sticker_up_to_500_kb(agent_client, chat):
    # A VP8X header with the animation flag (0x02) set.
    animated = b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02" + b"\x00" * (200 * 1024)
    send(agent_client, chat, file=SimpleUploadedFile("wave.webp", animated, content_type="image/webp"))
    assert Message.objects.get(conversation=chat).message_type == "sticker"


def test_it_hands_the_page_the_same_limits_it_checks(agent_client, chat):
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX).content.decode()
    assert '<script id="media-limits" type="application/json">' in body
    assert str(5 * 1024 * 1024) in body
    assert "image/jpeg" in body


def test_it_links_a_message_as_it_sends_it(agent_client, chat):
    send(agent_client, chat, body="quote attached", link_type="project", link_id="P-42")
    link = EntityLink.objects.get()
    assert (link.entity_type, link.entity_id, link.message.message_body) == ("project", "P-42", "quote attached")


def test_it_shows_the_reason_when_the_window_has_closed(agent_client, db, settings):
    settings.WHATSAPP_ENFORCE_SERVICE_WINDOW = True
    chat = make_conversation(inbound_ago=timezone.timedelta(hours=25))
    body = send(agent_client, chat, body="hello?").content.decode()
    assert "More than 24 hours have passed since this customer last wrote" in body
    assert not Message.objects.exists()


def test_it_sends_an_approved_template_with_its_parameters(agent_client, db):
    chat = make_conversation(inbound_ago=timezone.timedelta(days=3))
    template = MessageTemplate.objects.create(
        name="order_update",
        language="en_US",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Hello {{1}}, order {{2}} has shipped."}],
    )
    fields = agent_client.get(reverse("chat:template_fields"), {"template": template.pk}, **HTMX).content.decode()
    assert 'name="body_1"' in fields
    assert 'name="body_2"' in fields
    send(agent_client, chat, template=template.pk, body_1="Asha", body_2="#42")
    message = Message.objects.get(conversation=chat)
    assert message.message_type == "template"
    assert message.message_body == "Hello Asha, order #42 has shipped."
    assert message.data["template"]["parameters"] == ["Asha", "#42"]
    # Filled as the API fills templates: the Cloud API components the send task posts.
    assert message.data["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "#42"}]}
    ]


def test_it_asks_for_every_template_parameter(agent_client, db):
    chat = make_conversation(inbound_ago=timezone.timedelta(days=3))
    template = MessageTemplate.objects.create(
        name="greet", language="en", status="APPROVED", components=[{"type": "BODY", "text": "Hi {{1}}"}]
    )
    body = send(agent_client, chat, template=template.pk).content.decode()
    assert "Fill in Body value 1." in body
    assert not Message.objects.exists()


def test_it_refuses_a_template_that_is_not_approved(agent_client, db):
    chat = make_conversation(inbound_ago=timezone.timedelta(days=3))
    template = MessageTemplate.objects.create(name="draft", language="en", status="PENDING")
    body = send(agent_client, chat, template=template.pk).content.decode()
    assert "Template:" in body
    assert not Message.objects.exists()


def test_it_links_and_unlinks_a_message_from_its_bubble(agent_client, chat):
    message = make_message(chat)
    response = agent_client.post(
        reverse("links:message_link", args=[message.pk]), {"entity_type": "lead", "entity_id": "L7"}, **HTMX
    )
    body = response.content.decode()
    assert f'id="m-{message.pk}"' in body
    assert "Lead #L7" in body
    assert reverse("links:entity", args=["lead", "L7"]) in body
    response = agent_client.post(
        reverse("links:message_unlink", args=[message.pk]), {"entity_type": "lead", "entity_id": "L7"}, **HTMX
    )
    assert "Lead #L7" not in response.content.decode()
    assert not EntityLink.objects.exists()


def test_it_explains_a_link_to_an_unknown_record_type(agent_client, chat):
    message = make_message(chat)
    body = agent_client.post(
        reverse("links:message_link", args=[message.pk]), {"entity_type": "invoice", "entity_id": "1"}, **HTMX
    ).content.decode()
    assert "Choose a record type and enter its id." in body
    assert not EntityLink.objects.exists()


def test_it_refuses_sending_without_the_chat_permission(client, outsider, chat):
    client.force_login(outsider)
    assert send(client, chat, body="hi").status_code == 403
    assert not Message.objects.exists()


def test_it_asks_for_a_media_header_and_keeps_the_chosen_template_and_typed_values(agent_client, db):
    chat = make_conversation(inbound_ago=timezone.timedelta(days=3))
    template = MessageTemplate.objects.create(
        name="invoice_ready",
        language="en",
        status="APPROVED",
        components=[{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Invoice {{1}} is ready"}],
    )
    body = send(agent_client, chat, template=template.pk, body_1="INV-7").content.decode()
    assert "Fill in Header document." in body
    assert f'<option value="{template.pk}" selected>' in body
    assert 'name="body_1" value="INV-7"' in body
    assert 'name="header_file"' in body
    assert not Message.objects.exists()
