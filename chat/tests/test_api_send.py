"""POST /api/whatsapp/send-message, send-media and send-template."""

import io
import json
import struct

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from chat.api_errors import server_error
from chat.models import Conversation, Message, MessageTemplate
from conftest import jwt_client_for
from links.models import EntityLink

pytestmark = pytest.mark.django_db

PHONE = "+919876543210"


@pytest.fixture
def open_conversation():
    """A customer who wrote an hour ago: the 24-hour window is open."""
    return Conversation.objects.create(
        other_party=PHONE, contact_name="Asha", last_inbound_at=timezone.now() - timezone.timedelta(hours=1)
    )


def send(client, path, payload, **extra):
    return client.post(f"/api/whatsapp/{path}", payload, format="json", **extra)


# --- send-message ---------------------------------------------------------------------


def test_it_queues_a_text_and_answers_202_with_the_stored_message(
    api_client, agent, open_conversation, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = send(api_client, "send-message", {"to_phone": PHONE, "message": "Your order has shipped."})
    assert response.status_code == 202, response.json()
    body = response.json()
    message = Message.objects.get(pk=body["id"])
    assert body["status"] == "queued"
    assert body["message_type"] == "text"
    assert body["message_body"] == "Your order has shipped."
    assert body["to_phone"] == PHONE
    assert message.conversation == open_conversation
    assert message.from_user == agent
    assert message.direction == "outbound"
    assert message.status == "queued"
    assert enqueued["send"] == [message.pk]


@pytest.mark.parametrize("written", ["+91 98765 43210", "919876543210", "0091-98765-43210", "+91 (98765) 43210"])
def test_it_accepts_common_ways_of_writing_the_number(api_client, open_conversation, enqueued, written):
    response = send(api_client, "send-message", {"to_phone": written, "message": "Hello"})
    assert response.status_code == 202, response.json()
    assert response.json()["conversation_id"] == open_conversation.pk
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize("written", ["12345", "not a number", "+1 555", "+" + "9" * 39])
def test_it_refuses_an_invalid_number_naming_to_phone(api_client, written):
    response = send(api_client, "send-message", {"to_phone": written, "message": "Hello"})
    assert response.status_code == 400
    assert response.json()["field"] == "to_phone"
    assert "phone number" in response.json()["message"] or "characters" in response.json()["message"]
    assert not Message.objects.exists()


def test_it_names_every_missing_field(api_client):
    response = send(api_client, "send-message", {})
    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"to_phone", "message"}


def test_it_refuses_text_over_4096_characters_and_takes_4096(api_client, open_conversation, enqueued):
    too_long = send(api_client, "send-message", {"to_phone": PHONE, "message": "x" * 4097})
    assert too_long.status_code == 400
    assert too_long.json()["field"] == "message"
    assert "4096" in too_long.json()["message"]
    assert send(api_client, "send-message", {"to_phone": PHONE, "message": "x" * 4096}).status_code == 202


@pytest.mark.parametrize("text", ["   ", "bad \ud800 surrogate", "nul \x00 byte"])
def test_it_refuses_blank_or_unstorable_text(api_client, open_conversation, text):
    response = api_client.post(
        "/api/whatsapp/send-message",
        data=f'{{"to_phone": "{PHONE}", "message": {json.dumps(text)}}}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "message"


def test_it_refuses_outside_the_service_window_with_422_naming_the_template_endpoint(api_client, enqueued):
    response = send(api_client, "send-message", {"to_phone": "+447911123456", "message": "Hello"})
    assert response.status_code == 422
    assert "/api/whatsapp/send-template" in response.json()["message"]
    assert response.json()["field"] == "to_phone"
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()
    assert enqueued["send"] == []


def test_it_refuses_an_old_conversation_whose_window_closed(api_client, open_conversation):
    Conversation.objects.filter(pk=open_conversation.pk).update(
        last_inbound_at=timezone.now() - timezone.timedelta(hours=25)
    )
    assert send(api_client, "send-message", {"to_phone": PHONE, "message": "Hi"}).status_code == 422


def test_it_returns_the_first_message_for_a_repeated_idempotency_key(api_client, open_conversation, enqueued):
    first = send(api_client, "send-message", {"to_phone": PHONE, "message": "Once"}, HTTP_IDEMPOTENCY_KEY="order-7")
    again = send(api_client, "send-message", {"to_phone": PHONE, "message": "Once"}, HTTP_IDEMPOTENCY_KEY="order-7")
    other = send(api_client, "send-message", {"to_phone": PHONE, "message": "Once"}, HTTP_IDEMPOTENCY_KEY="order-8")
    assert first.status_code == again.status_code == other.status_code == 202
    assert again.json()["id"] == first.json()["id"] != other.json()["id"]
    assert Message.objects.count() == 2


def test_it_keeps_idempotency_keys_per_user(api_client, open_conversation, enqueued, django_user_model):
    bob = django_user_model.objects.create_user(username="bob", password="bob-password-1")
    bob.groups.add(Group.objects.get(name="WhatsApp agents"))
    payload = {"to_phone": PHONE, "message": "Hi"}
    mine = send(api_client, "send-message", payload, HTTP_IDEMPOTENCY_KEY="k1")
    his = send(jwt_client_for(bob), "send-message", payload, HTTP_IDEMPOTENCY_KEY="k1")
    assert mine.json()["id"] != his.json()["id"]


def test_it_refuses_an_overlong_idempotency_key(api_client, open_conversation):
    response = send(api_client, "send-message", {"to_phone": PHONE, "message": "Hi"}, HTTP_IDEMPOTENCY_KEY="k" * 129)
    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"


def test_it_links_the_message_to_an_erp_record(api_client, agent, open_conversation, enqueued):
    payload = {"to_phone": PHONE, "message": "Quote", "link_to_entity": "42", "entity_type": "project"}
    response = send(api_client, "send-message", payload)
    assert response.status_code == 202
    link = EntityLink.objects.get()
    assert (link.message_id, link.entity_type, link.entity_id, link.created_by) == (
        response.json()["id"],
        "project",
        "42",
        agent,
    )
    assert response.json()["entity_links"][0]["entity_type"] == "project"


def test_it_refuses_an_unknown_entity_type_listing_the_allowed_ones(api_client, open_conversation):
    payload = {"to_phone": PHONE, "message": "Quote", "link_to_entity": "42", "entity_type": "invoice"}
    response = send(api_client, "send-message", payload)
    assert response.status_code == 400
    assert response.json()["field"] == "entity_type"
    assert "project, petty_cash, lead, employee" in response.json()["message"]
    assert not Message.objects.exists()


def test_it_wants_both_halves_of_an_entity_link(api_client, open_conversation):
    only_id = send(api_client, "send-message", {"to_phone": PHONE, "message": "Q", "link_to_entity": "42"})
    only_type = send(api_client, "send-message", {"to_phone": PHONE, "message": "Q", "entity_type": "lead"})
    assert only_id.status_code == only_type.status_code == 400
    assert only_id.json()["field"] == "entity_type"
    assert only_type.json()["field"] == "link_to_entity"


# --- malformed requests -----------------------------------------------------------------


def test_it_answers_malformed_json_with_a_sentence(api_client):
    response = api_client.post("/api/whatsapp/send-message", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("The body could not be read")


def test_it_answers_a_wrong_content_type_with_415(api_client):
    response = api_client.post("/api/whatsapp/send-message", data="hello", content_type="text/plain")
    assert response.status_code == 415
    assert "JSON" in response.json()["message"]


def test_it_answers_a_huge_json_body_with_413(api_client):
    body = '{"to_phone": "+919876543210", "message": "' + "x" * (6 * 1024 * 1024) + '"}'
    response = api_client.post("/api/whatsapp/send-message", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["message"] == "The request body is too large."


def test_it_answers_a_json_list_instead_of_an_object(api_client):
    response = api_client.post("/api/whatsapp/send-message", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"]


def test_it_answers_a_wrong_method_with_405_json(api_client):
    response = api_client.get("/api/whatsapp/send-message")
    assert response.status_code == 405
    assert "GET" in response.json()["message"]


# --- send-media -------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


def webp(size, animated=False):
    """A RIFF/WEBP header with a VP8X chunk (animation flag as asked), padded to `size` bytes."""
    flags = 0x02 if animated else 0x00
    head = b"RIFF" + struct.pack("<I", size - 8) + b"WEBP" + b"VP8X" + struct.pack("<I", 10) + bytes([flags])
    return head + b"\x00" * (size - len(head))


def upload(client, media_type, name, content, content_type, **fields):
    payload = {"to_phone": PHONE, "media_type": media_type, "file": SimpleUploadedFile(name, content, content_type)}
    payload.update(fields)
    return client.post("/api/whatsapp/send-media", payload, format="multipart")


def test_it_queues_an_uploaded_image_with_its_file_and_caption(
    api_client, open_conversation, enqueued, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    response = upload(api_client, "image", "photo.png", PNG, "image/png", caption="The new tiles")
    assert response.status_code == 202, response.json()
    message = Message.objects.get(pk=response.json()["id"])
    assert message.message_type == "image"
    assert message.caption == "The new tiles"
    assert message.mime_type == "image/png"
    assert message.file_size == len(PNG)
    assert message.file.read() == PNG
    assert message.media_state == "ready"


def test_it_refuses_an_image_of_the_wrong_type_naming_file(api_client, open_conversation):
    response = upload(api_client, "image", "anim.gif", b"GIF89a" + b"\x00" * 50, "image/gif")
    assert response.status_code == 400
    assert response.json()["field"] == "file"
    assert "cannot send files of type image/gif as a photo. Photos must be JPEG or PNG" in response.json()["message"]


def test_it_refuses_an_image_over_5_mb(api_client, open_conversation):
    response = upload(api_client, "image", "big.jpg", b"\xff\xd8" + b"\x00" * (5 * 1024 * 1024), "image/jpeg")
    assert response.status_code == 400
    assert response.json()["field"] == "file"
    assert "5 MB" in response.json()["message"]


def test_it_holds_static_stickers_to_100_kb_and_animated_to_500_kb(
    api_client, open_conversation, enqueued, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    static_big = upload(api_client, "sticker", "s.webp", webp(150 * 1024), "image/webp")
    animated_ok = upload(api_client, "sticker", "a.webp", webp(150 * 1024, animated=True), "image/webp")
    animated_big = upload(api_client, "sticker", "b.webp", webp(501 * 1024, animated=True), "image/webp")
    assert static_big.status_code == 400
    assert "100 KB" in static_big.json()["message"]
    assert animated_ok.status_code == 202
    assert animated_big.status_code == 400
    assert "500 KB" in animated_big.json()["message"]


@pytest.mark.parametrize(
    ("media_type", "name", "content_type"),
    [("video", "v.mp4", "video/mp4"), ("audio", "a.ogg", "audio/ogg"), ("document", "q.pdf", "application/pdf")],
)
def test_it_takes_each_media_type(
    api_client, open_conversation, enqueued, settings, tmp_path, media_type, name, content_type
):
    settings.MEDIA_ROOT = tmp_path
    response = upload(api_client, media_type, name, b"0" * 100, content_type)
    assert response.status_code == 202, response.json()
    assert response.json()["message_type"] == media_type
    assert response.json()["file_name"] == name


def test_it_names_the_document_by_filename(api_client, open_conversation, enqueued, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = upload(api_client, "document", "upload.bin", b"%PDF-1.4", "application/pdf", filename="Quote 42.pdf")
    assert response.json()["file_name"] == "Quote 42.pdf"


def test_it_refuses_a_caption_over_1024_characters(api_client, open_conversation):
    response = upload(api_client, "image", "p.png", PNG, "image/png", caption="c" * 1025)
    assert response.status_code == 400
    assert response.json()["field"] == "caption"


def test_it_refuses_a_caption_on_audio(api_client, open_conversation):
    response = upload(api_client, "audio", "a.ogg", b"0" * 10, "audio/ogg", caption="listen")
    assert response.status_code == 400
    assert response.json()["field"] == "caption"


def test_it_refuses_an_unknown_media_type(api_client, open_conversation):
    response = upload(api_client, "gif", "p.png", PNG, "image/png")
    assert response.status_code == 400
    assert response.json()["field"] == "media_type"


def test_it_wants_exactly_one_of_file_and_media_url(api_client, open_conversation):
    neither = send(api_client, "send-media", {"to_phone": PHONE, "media_type": "image"})
    both = api_client.post(
        "/api/whatsapp/send-media",
        {
            "to_phone": PHONE,
            "media_type": "image",
            "media_url": "https://93.184.215.14/p.png",
            "file": SimpleUploadedFile("p.png", PNG, "image/png"),
        },
        format="multipart",
    )
    assert neither.status_code == both.status_code == 400
    assert neither.json()["field"] == both.json()["field"] == "media_url"


def test_it_queues_media_by_url_with_the_link_and_fetches_a_copy_after_commit(
    api_client, open_conversation, enqueued, django_capture_on_commit_callbacks
):
    url = "https://93.184.215.14/catalogue/p.png"
    with django_capture_on_commit_callbacks(execute=True):
        response = send(api_client, "send-media", {"to_phone": PHONE, "media_type": "image", "media_url": url})
    assert response.status_code == 202, response.json()
    message = Message.objects.get(pk=response.json()["id"])
    assert message.data["link"] == url
    assert message.media_state == "pending"
    assert enqueued["send"] == [message.pk]
    assert enqueued["fetch"] == [message.pk]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://localhost/x.png",
        "http://10.1.2.3/x.png",
        "http://192.168.0.10/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.png",
        "http://2130706433/x.png",
        "file:///etc/passwd",
        "ftp://93.184.215.14/x.png",
        "not a url",
    ],
)
def test_it_refuses_media_urls_that_are_not_public_http(api_client, open_conversation, url):
    response = send(api_client, "send-media", {"to_phone": PHONE, "media_type": "image", "media_url": url})
    assert response.status_code == 400
    assert response.json()["field"] == "media_url"
    assert response.json()["message"].endswith(".")
    assert not Message.objects.exists()


def test_it_refuses_a_request_body_larger_than_any_media(api_client, open_conversation):
    response = api_client.post(
        "/api/whatsapp/send-media",
        data=io.BytesIO(b"x").read(),
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(200 * 1024 * 1024),
    )
    assert response.status_code == 413
    assert response.json()["field"] == "file"


# --- send-template ----------------------------------------------------------------------


@pytest.fixture
def order_template():
    return MessageTemplate.objects.create(
        name="order_update",
        language="en_US",
        status="APPROVED",
        category="UTILITY",
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BODY", "text": "Hello {{1}}, your order {{2}} has shipped."},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://t.example/{{1}}"}]},
        ],
    )


def test_it_sends_a_template_outside_the_window_with_filled_components(api_client, order_template, enqueued):
    payload = {
        "to_phone": PHONE,
        "name": "order_update",
        "language": "en_US",
        "parameters": ["MD-1042", "Asha", "MD-1042", "trk42"],
    }
    response = send(api_client, "send-template", payload)
    assert response.status_code == 202, response.json()
    message = Message.objects.get(pk=response.json()["id"])
    assert message.message_type == "template"
    assert message.message_body == "Hello Asha, your order MD-1042 has shipped."
    template = message.data["template"]
    assert (template["name"], template["language"]) == ("order_update", "en_US")
    assert template["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "MD-1042"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "MD-1042"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "trk42"}]},
    ]


def test_it_starts_a_conversation_by_template_linked_to_a_record(api_client, order_template, enqueued):
    payload = {
        "to_phone": "+1 202-555-0123",
        "name": "order_update",
        "language": "en_US",
        "parameters": ["MD-1042", "Asha", "MD-1042", "trk42"],
        "link_to_entity": "42",
        "entity_type": "project",
    }
    response = send(api_client, "send-template", payload)
    assert response.status_code == 202, response.json()
    assert response.json()["entity_links"][0]["entity_id"] == "42"
    link = EntityLink.objects.get()
    assert (link.entity_type, link.message.conversation.other_party) == ("project", "+12025550123")


def test_a_refused_first_template_leaves_no_conversation(api_client, order_template):
    payload = {"to_phone": "+12025550123", "name": "order_update", "language": "en_US", "parameters": ["Asha"]}
    assert send(api_client, "send-template", payload).status_code == 400
    assert not Conversation.objects.filter(other_party="+12025550123").exists()


def test_it_names_the_entity_type_a_template_link_lacks(api_client, order_template):
    payload = {
        "to_phone": PHONE,
        "name": "order_update",
        "language": "en_US",
        "parameters": ["a", "b", "c", "d"],
        "link_to_entity": "42",
    }
    response = send(api_client, "send-template", payload)
    assert response.status_code == 400
    assert response.json()["field"] == "entity_type"
    assert not Message.objects.exists()


def test_it_refuses_a_wrong_parameter_count(api_client, order_template):
    payload = {"to_phone": PHONE, "name": "order_update", "language": "en_US", "parameters": ["Asha"]}
    response = send(api_client, "send-template", payload)
    assert response.status_code == 400
    assert response.json()["field"] == "parameters"
    assert response.json()["message"] == (
        "The template 'order_update' takes 4 parameters "
        "(1 header value, 2 body values, 1 value for button 1); 1 was given."
    )


def test_it_refuses_an_unknown_template_naming_the_list_endpoint(api_client, order_template):
    payload = {"to_phone": PHONE, "name": "order_update", "language": "hi", "parameters": []}
    response = send(api_client, "send-template", payload)
    assert response.status_code == 400
    assert response.json()["field"] == "name"
    assert "/api/whatsapp/templates" in response.json()["message"]


def test_it_refuses_a_template_that_is_not_approved(api_client, order_template):
    MessageTemplate.objects.filter(pk=order_template.pk).update(status="PAUSED")
    payload = {"to_phone": PHONE, "name": "order_update", "language": "en_US", "parameters": ["a", "b", "c", "d"]}
    response = send(api_client, "send-template", payload)
    assert response.status_code == 400
    assert response.json()["field"] == "name"
    assert "paused" in response.json()["message"]


def test_it_names_a_blank_template_parameter(api_client, order_template):
    payload = {"to_phone": PHONE, "name": "order_update", "language": "en_US", "parameters": ["a", "", "c", "d"]}
    response = send(api_client, "send-template", payload)
    assert response.status_code == 400
    assert response.json()["field"] == "parameters[1]"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", "[" * 5_000),
        ("application/json", '{"to_phone": 5, "message": ["a"], "link_to_entity": [1], "entity_type": {"a": 1}}'),
        ("application/json", "1e999999"),
        ("application/json", "NaN"),
        ("application/json", b"\xff\xfe{"),
        ("multipart/form-data; boundary=zz", "--zz\r\nbroken"),
        ("multipart/form-data", "no boundary"),
        ("application/x-www-form-urlencoded", "to_phone=%ff%fe&message=%00"),
    ],
)
@pytest.mark.parametrize("path", ["send-message", "send-media"])
def test_it_answers_garbage_with_a_sentence_never_a_500(api_client, content_type, body, path):
    data = body if isinstance(body, bytes) else body.encode()
    response = api_client.generic("POST", f"/api/whatsapp/{path}", data, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert response.json()["message"]


def test_it_fills_a_media_header_and_a_copy_code_button(api_client, enqueued):
    MessageTemplate.objects.create(
        name="offer",
        language="en",
        status="APPROVED",
        components=[
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Hi {{name}}, here is your code."},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}, {"type": "COPY_CODE"}]},
        ],
    )
    payload = {
        "to_phone": PHONE,
        "name": "offer",
        "language": "en",
        "parameters": ["https://93.184.215.14/offer.png", "Asha", "SAVE10"],
    }
    response = send(api_client, "send-template", payload)
    assert response.status_code == 202, response.json()
    message = Message.objects.get(pk=response.json()["id"])
    assert message.message_body == "Hi Asha, here is your code."
    assert message.data["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://93.184.215.14/offer.png"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Asha", "parameter_name": "name"}]},
        {
            "type": "button",
            "sub_type": "copy_code",
            "index": "1",
            "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}],
        },
    ]
    payload["parameters"][0] = "http://169.254.169.254/offer.png"
    refused = send(api_client, "send-template", payload)
    assert refused.status_code == 400
    assert refused.json()["field"] == "parameters"
    assert refused.json()["message"].startswith("The header image parameter must be its public address")


def test_it_answers_an_unknown_api_address_with_json(api_client, client):
    response = api_client.post("/api/whatsapp/send-nothing", {}, format="json")
    assert response.status_code == 404
    assert response.json()["message"] == "There is no such API address; /docs lists them."
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


def test_it_answers_a_crash_under_api_with_json(rf):
    response = server_error(rf.post("/api/whatsapp/send-message"))
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content
    assert server_error(rf.get("/whatsapp-chat"))["Content-Type"].startswith("text/html")
