"""The Cloud API client against the simulator, over real HTTP: what Meta receives, and its errors."""

import io
import logging

import pytest

from integrations import whatsapp as whatsapp_module
from integrations.whatsapp import CloudAPIClient, WhatsAppError

CUSTOMER = "+919876543210"


def last_body(simulator):
    return simulator.state()["sends"][-1]["body"]


def test_it_sends_text_with_a_link_preview_and_a_reply_context(client_api, simulator):
    wamid = client_api.send_text(CUSTOMER, "See https://example.com", reply_to="wamid.Q1", callback_data="madio:1")
    assert wamid.startswith("wamid.")
    assert last_body(simulator) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"body": "See https://example.com", "preview_url": True},
        "context": {"message_id": "wamid.Q1"},
        "biz_opaque_callback_data": "madio:1",
    }
    assert simulator.state()["sends"][-1]["wamid"] == wamid


def test_it_sends_plain_text_without_a_preview(client_api, simulator):
    client_api.send_text(CUSTOMER, "Hello")
    assert last_body(simulator)["text"] == {"body": "Hello", "preview_url": False}


@pytest.mark.parametrize(
    ("kind", "caption", "filename", "expected"),
    [
        ("image", "A photo", "", {"caption": "A photo"}),
        ("video", "A clip", "", {"caption": "A clip"}),
        ("audio", "ignored for audio", "", {}),
        ("document", "The invoice", "invoice.pdf", {"caption": "The invoice", "filename": "invoice.pdf"}),
        ("sticker", "", "", {}),
    ],
)
def test_it_sends_each_media_type_by_link(client_api, simulator, kind, caption, filename, expected):
    client_api.send_media(CUSTOMER, kind, link="https://files.example.com/x", caption=caption, filename=filename)
    body = last_body(simulator)
    assert body["type"] == kind
    assert body[kind] == {"link": "https://files.example.com/x", **expected}


def test_it_uploads_media_and_sends_it_by_id(client_api, simulator):
    media_id = client_api.upload_media(io.BytesIO(b"%PDF-1.4 test"), mime_type="application/pdf", filename="a.pdf")
    assert simulator.media[media_id]["data"] == b"%PDF-1.4 test"
    assert simulator.media[media_id]["mime_type"] == "application/pdf"
    client_api.send_media(CUSTOMER, "document", media_id=media_id, filename="a.pdf")
    assert last_body(simulator)["document"] == {"id": media_id, "filename": "a.pdf"}


def test_it_reads_media_info_and_downloads_with_the_token(client_api, simulator):
    media_id = client_api.upload_media(io.BytesIO(b"\x89PNG data"), mime_type="image/png", filename="p.png")
    info = client_api.media_info(media_id)
    assert info["mime_type"] == "image/png"
    assert info["file_size"] == 9
    assert info["id"] == media_id
    assert b"".join(client_api.download_media(info["url"], max_bytes=100)) == b"\x89PNG data"
    stranger = CloudAPIClient(base_url=simulator.url, version="v24.0", token="wrong", phone_number_id="1")
    with pytest.raises(WhatsAppError) as refused:
        b"".join(stranger.download_media(info["url"], max_bytes=100))
    assert refused.value.code == 190
    assert refused.value.http_status == 401


def test_it_refuses_a_download_larger_than_allowed(client_api):
    media_id = client_api.upload_media(io.BytesIO(b"x" * 500), mime_type="application/pdf", filename="big.pdf")
    with pytest.raises(WhatsAppError, match="too large"):
        b"".join(client_api.download_media(client_api.media_info(media_id)["url"], max_bytes=100))


def test_it_sends_a_template_with_header_body_and_button_parameters(client_api, simulator):
    components = [
        {"type": "header", "parameters": [{"type": "text", "text": "Asha"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "1 May"}, {"type": "text", "text": "10:00"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "A17"}]},
    ]
    client_api.send_template(CUSTOMER, "appointment_reminder", "en", components)
    assert last_body(simulator)["template"] == {
        "name": "appointment_reminder",
        "language": {"code": "en"},
        "components": components,
    }


def test_it_sends_a_reaction_and_marks_a_message_read(client_api, simulator):
    client_api.send_reaction(CUSTOMER, "wamid.IN1", "👍")
    assert last_body(simulator)["reaction"] == {"message_id": "wamid.IN1", "emoji": "👍"}
    assert client_api.mark_read("wamid.IN1", typing=True) is True
    assert simulator.state()["reads"][-1]["message_id"] == "wamid.IN1"
    assert simulator.state()["reads"][-1]["typing"] is True


def test_it_lists_every_template_across_pages(client_api, simulator):
    templates = client_api.list_templates(limit=2)
    assert [(t["name"], t["language"]) for t in templates] == [(t["name"], t["language"]) for t in simulator.templates]


@pytest.mark.parametrize("code", [1, 2, 4, 80007, 130429, 131000, 131048, 131056])
def test_it_marks_transient_meta_errors_retryable(client_api, simulator, code):
    simulator.add_fault(code=code, times=1)
    with pytest.raises(WhatsAppError) as error:
        client_api.send_text(CUSTOMER, "Hello")
    assert error.value.code == code
    assert error.value.retryable is True
    assert error.value.uncertain is False
    assert simulator.state()["sends"] == []


@pytest.mark.parametrize("code", [100, 131026, 131047, 131051, 132000, 132001, 132015, 368])
def test_it_marks_permanent_meta_errors_not_retryable(client_api, simulator, code):
    simulator.add_fault(code=code, to=CUSTOMER)
    with pytest.raises(WhatsAppError) as error:
        client_api.send_text(CUSTOMER, "Hello")
    assert (error.value.code, error.value.retryable) == (code, False)
    assert error.value.title
    assert error.value.details


def test_it_carries_retry_after(client_api, simulator):
    simulator.add_fault(code=130429, retry_after=37, times=1)
    with pytest.raises(WhatsAppError) as error:
        client_api.send_text(CUSTOMER, "Hello")
    assert error.value.retry_after == 37


def test_it_logs_a_refused_token_once_not_per_message(simulator, caplog, monkeypatch):
    monkeypatch.setattr(whatsapp_module, "_token_error_logged", False)
    client = CloudAPIClient(
        base_url=simulator.url, version="v24.0", token="expired", phone_number_id=simulator.phone_number_id
    )
    with caplog.at_level(logging.ERROR, logger="integrations.whatsapp"):
        for _ in range(3):
            with pytest.raises(WhatsAppError) as error:
                client.send_text(CUSTOMER, "Hello")
            assert (error.value.code, error.value.retryable) == (190, False)
    assert sum("access token" in r.getMessage() for r in caplog.records) == 1
    assert "expired" not in caplog.text


def test_it_calls_a_network_failure_retryable_and_certain_not_sent():
    closed = CloudAPIClient(base_url="http://127.0.0.1:9", version="v24.0", token="t", phone_number_id="1")
    with pytest.raises(WhatsAppError) as error:
        closed.send_text(CUSTOMER, "Hello")
    assert error.value.retryable is True
    assert error.value.uncertain is False


def test_it_calls_a_send_without_an_answer_uncertain(simulator):
    simulator.add_fault(delay=1.0, times=1)
    slow = CloudAPIClient(
        base_url=simulator.url,
        version="v24.0",
        token=simulator.token,
        phone_number_id=simulator.phone_number_id,
        timeout=(2, 0.2),
    )
    with pytest.raises(WhatsAppError) as error:
        slow.send_text(CUSTOMER, "Hello")
    assert error.value.uncertain is True
