"""Inbound media, downloaded over real HTTP from a loopback server playing Graph's media endpoints."""

import base64
import hashlib

import pytest

from chat.media_rules import max_bytes
from chat.models import Message
from chat.payload import safe_file_name
from chat.services import conversation_get_or_create
from integrations.inbound_media import media_download, sha256_matches
from integrations.tests.graph_media import TOKEN, VERSION, GraphMediaServer
from integrations.whatsapp import CloudAPIClient, WhatsAppError

pytestmark = pytest.mark.django_db
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40


@pytest.fixture
def graph():
    with GraphMediaServer() as server:
        yield server


@pytest.fixture
def client_for(graph):
    def make(token=TOKEN):
        return CloudAPIClient(base_url=graph.url, version=VERSION, token=token, phone_number_id="106540352242922")

    return make


def media_message(kind="image", media_id="1003383421387256", **fields):
    conversation = conversation_get_or_create(phone="+919876543210")
    fields.setdefault("mime_type", "image/jpeg")
    return Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        message_type=kind,
        media_id=media_id,
        media_state=Message.MediaState.PENDING,
        **fields,
    )


def test_it_downloads_checks_and_stores_an_image(graph, client_for):
    graph.add("1003383421387256", JPEG)
    message = media_message()
    before = message.updated_at
    message = media_download(message_id=message.pk, client=client_for())
    assert message.media_state == Message.MediaState.READY
    assert message.media_error == ""
    assert message.file_size == len(JPEG)
    assert message.mime_type == "image/jpeg"
    assert message.file.name.endswith(".jpg")
    assert message.file_name == f"image-{message.pk}.jpg"
    with message.file.open("rb") as stored:
        assert stored.read() == JPEG
    assert message.updated_at > before


def test_it_accepts_meta_s_sha256_as_hex_or_base64(graph, client_for):
    graph.add("hex", JPEG, sha256=hashlib.sha256(JPEG).hexdigest())
    graph.add("b64", JPEG)
    for media_id in ("hex", "b64"):
        message = media_download(message_id=media_message(media_id=media_id).pk, client=client_for())
        assert message.media_state == Message.MediaState.READY, message.media_error


def test_it_uses_the_client_from_settings(graph, settings):
    settings.WHATSAPP_API_BASE_URL = graph.url
    settings.WHATSAPP_API_VERSION = VERSION
    settings.WHATSAPP_ACCESS_TOKEN = TOKEN
    graph.add("1003383421387256", JPEG)
    assert media_download(message_id=media_message().pk).media_state == Message.MediaState.READY


def test_it_keeps_a_document_s_original_name_but_stores_it_safely(graph, client_for):
    graph.add("doc", b"%PDF-1.7 estimate", mime_type="application/pdf")
    message = media_message(kind="document", media_id="doc", mime_type="application/pdf", file_name="../../etc/CON.pdf")
    message = media_download(message_id=message.pk, client=client_for())
    assert message.media_state == Message.MediaState.READY
    assert message.file_name == "../../etc/CON.pdf"
    stored = message.file.name
    assert ".." not in stored
    assert stored.startswith("whatsapp/")
    assert stored.rsplit("/", 1)[-1].startswith("_CON")


def test_an_expired_url_is_fetched_anew(graph, client_for):
    item = graph.add("1003383421387256", JPEG, expire_first_urls=2)
    message = media_download(message_id=media_message().pk, client=client_for())
    assert message.media_state == Message.MediaState.READY
    assert item.urls_issued == 3
    assert len(item.downloads) == 1


def test_a_url_that_keeps_expiring_is_retried_later_then_fails(graph, client_for):
    graph.add("1003383421387256", JPEG, expire_first_urls=100)
    message = media_message()
    with pytest.raises(WhatsAppError) as raised:
        media_download(message_id=message.pk, client=client_for(), final_attempt=False)
    assert raised.value.retryable
    message.refresh_from_db()
    assert message.media_state == Message.MediaState.PENDING
    message = media_download(message_id=message.pk, client=client_for(), final_attempt=True)
    assert message.media_state == Message.MediaState.FAILED
    assert "expiring" in message.media_error


def test_server_errors_are_retried_and_succeed_once_they_pass(graph, client_for):
    graph.add("1003383421387256", JPEG, fail_downloads=1, fail_lookups=1)
    message = media_message()
    for _ in range(2):
        with pytest.raises(WhatsAppError) as raised:
            media_download(message_id=message.pk, client=client_for(), final_attempt=False)
        assert raised.value.retryable
    message = media_download(message_id=message.pk, client=client_for(), final_attempt=False)
    assert message.media_state == Message.MediaState.READY


def test_a_wrong_checksum_is_retried_and_finally_recorded_as_a_failure(graph, client_for):
    graph.add("1003383421387256", JPEG, sha256=hashlib.sha256(b"something else").hexdigest())
    message = media_message()
    with pytest.raises(WhatsAppError):
        media_download(message_id=message.pk, client=client_for(), final_attempt=False)
    message = media_download(message_id=message.pk, client=client_for(), final_attempt=True)
    assert message.media_state == Message.MediaState.FAILED
    assert message.media_error == "The downloaded file did not match WhatsApp's checksum, so it was not kept."
    assert not message.file


def test_an_incomplete_download_is_retried(graph, client_for):
    graph.add("1003383421387256", JPEG, file_size=len(JPEG) + 10)
    with pytest.raises(WhatsAppError) as raised:
        media_download(message_id=media_message().pk, client=client_for(), final_attempt=False)
    assert raised.value.retryable


def test_media_over_whatsapp_s_limit_fails_at_once_with_a_sentence(graph, client_for):
    graph.add("big", b"x" * (max_bytes("sticker") + 1), mime_type="image/webp")
    message = media_message(kind="sticker", media_id="big", mime_type="image/webp")
    message = media_download(message_id=message.pk, client=client_for(), final_attempt=False)
    assert message.media_state == Message.MediaState.FAILED
    assert message.media_error == "The sticker is larger than WhatsApp's 500 KB limit, so it was not downloaded."


def test_media_that_lies_about_its_size_is_cut_off(graph, client_for):
    graph.add("liar", b"x" * (max_bytes("sticker") + 1), mime_type="image/webp", file_size=10)
    message = media_message(kind="sticker", media_id="liar", mime_type="image/webp")
    message = media_download(message_id=message.pk, client=client_for(), final_attempt=False)
    assert message.media_state == Message.MediaState.FAILED
    assert "limit" in message.media_error


def test_media_whatsapp_no_longer_has_fails_without_retrying(graph, client_for):
    message = media_download(message_id=media_message(media_id="gone").pk, client=client_for(), final_attempt=False)
    assert message.media_state == Message.MediaState.FAILED
    assert message.media_error == "WhatsApp no longer offers this media for download."


def test_a_refused_token_fails_with_a_sentence_an_admin_understands(graph, client_for):
    graph.add("1003383421387256", JPEG)
    message = media_download(message_id=media_message().pk, client=client_for(token="expired"), final_attempt=False)
    assert message.media_state == Message.MediaState.FAILED
    assert "access token" in message.media_error


def test_a_finished_download_is_not_repeated(graph, client_for):
    item = graph.add("1003383421387256", JPEG)
    message = media_message()
    media_download(message_id=message.pk, client=client_for())
    media_download(message_id=message.pk, client=client_for())
    assert len(item.downloads) == 1


def test_a_stored_file_goes_to_the_sharepoint_backup(graph, client_for, settings):
    # SharePoint is not configured in tests: the backup marks the file "disabled" instead of queueing.
    settings.SHAREPOINT_ENABLED = False
    graph.add("1003383421387256", JPEG)
    message = media_download(message_id=media_message().pk, client=client_for())
    message.refresh_from_db()
    assert message.sharepoint_state == "disabled"


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\asha\\plan.dwg", "plan.dwg"),
        ("nul\x00.txt", "_nul.txt"),
        ("CON", "_CON"),
        ("lpt1.doc", "_lpt1.doc"),
        ("..", "file"),
        ("  .hidden. ", "hidden"),
        ('a<b>c:"d|e?f*.txt', "abcdef.txt"),
        ("line\nbreak.txt", "linebreak.txt"),
        ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
    ],
)
def test_it_makes_file_names_safe(given, safe):
    assert safe_file_name(given) == safe


def test_it_reads_sha256_in_either_encoding():
    digest = hashlib.sha256(b"abc").digest()
    assert sha256_matches(digest.hex(), digest) is True
    assert sha256_matches(digest.hex().upper(), digest) is True
    assert sha256_matches(base64.b64encode(digest).decode(), digest) is True
    assert sha256_matches(base64.urlsafe_b64encode(digest).decode().rstrip("="), digest) is True
    assert sha256_matches(hashlib.sha256(b"abd").hexdigest(), digest) is False
    assert sha256_matches("", digest) is None
    assert sha256_matches("not a checksum!", digest) is None
