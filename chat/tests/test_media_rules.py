"""The page's composer and the API's send-media accept and refuse the same files with the same words.

Each case goes through both; the rules and sentences come from chat.media_rules alone.
"""

import json
import re
import struct
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from chat.media_rules import RULES, accept_attribute, browser_rules, extension_for, is_animated_webp, max_bytes
from chat.models import Message

KB, MB = 1024, 1024 * 1024
HTMX = {"HTTP_HX_REQUEST": "true"}
PHONE = "+919876543210"  # the `chat` fixture's customer
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def webp(size, animated=False):
    head = b"RIFF" + struct.pack("<I", size - 8) + b"WEBP" + b"VP8X" + struct.pack("<I", 10)
    head += bytes([0x02 if animated else 0x00])
    return head + b"\x00" * (size - len(head))


def sized(size):
    return b"0" * size


PHOTOS = "Photos must be JPEG or PNG, at most 5 MB."
VIDEOS = "Videos must be MP4 or 3GPP, at most 16 MB."
STICKERS = "Stickers must be WebP, at most 100 KB (500 KB when animated)."
DOCUMENTS = "Documents must be PDF, text, Word, Excel or PowerPoint files, at most 100 MB."
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

# (file name, content, declared MIME type, media type, caption, what comes of it: a media type or the sentence)
CASES = [
    ("photo.jpg", b"\xff\xd8" + sized(100), "image/jpeg", "image", "the site", "image"),
    ("receipt.png", PNG, "image/png", "image", "", "image"),
    ("big.jpg", sized(5 * MB + 1), "image/jpeg", "image", "", f"This file is too large. {PHOTOS}"),
    ("empty.png", b"", "image/png", "image", "", "This file is empty."),
    (
        "anim.gif",
        b"GIF89a" + sized(50),
        "image/gif",
        "image",
        "",
        f"WhatsApp cannot send files of type image/gif as a photo. {PHOTOS}",
    ),
    (
        "vector.svg",
        b"<svg/>",
        "image/svg+xml",
        "image",
        "",
        f"WhatsApp cannot send files of type image/svg+xml as a photo. {PHOTOS}",
    ),
    ("clip.mp4", sized(100), "video/mp4", "video", "", "video"),
    ("clip.3gp", sized(100), "video/3gpp", "video", "", "video"),
    ("movie.mp4", sized(16 * MB + 1), "video/mp4", "video", "", f"This file is too large. {VIDEOS}"),
    (
        "clip.mov",
        sized(100),
        "video/quicktime",
        "video",
        "",
        f"WhatsApp cannot send files of type video/quicktime as a video. {VIDEOS}",
    ),
    ("note.ogg", sized(100), "audio/ogg", "audio", "", "audio"),
    ("song.mp3", sized(100), "audio/mpeg", "audio", "", "audio"),
    ("memo.m4a", sized(100), "audio/mp4", "audio", "", "audio"),
    ("memo.aac", sized(100), "audio/aac", "audio", "", "audio"),
    ("memo.amr", sized(100), "audio/amr", "audio", "", "audio"),
    ("note.ogg", sized(100), "audio/ogg", "audio", "listen", "WhatsApp sends audio and stickers without a caption."),
    ("small.webp", webp(50 * KB), "image/webp", "sticker", "", "sticker"),
    ("static.webp", webp(150 * KB), "image/webp", "sticker", "", f"This file is too large. {STICKERS}"),
    ("wave.webp", webp(150 * KB, animated=True), "image/webp", "sticker", "", "sticker"),
    ("huge.webp", webp(501 * KB, animated=True), "image/webp", "sticker", "", f"This file is too large. {STICKERS}"),
    # An animation chunk's name in a static sticker does not make it animated: only the VP8X flag does.
    (
        "fake.webp",
        webp(150 * KB)[:30] + b"ANIM" + sized(150 * KB - 34),
        "image/webp",
        "sticker",
        "",
        f"This file is too large. {STICKERS}",
    ),
    (
        "small.webp",
        webp(50 * KB),
        "image/webp",
        "sticker",
        "hi",
        "WhatsApp sends audio and stickers without a caption.",
    ),
    ("quote.pdf", b"%PDF-1.4 quote", "application/pdf", "document", "the quote", "document"),
    ("notes.txt", b"hello", "text/plain", "document", "", "document"),
    ("letter.docx", sized(100), DOCX, "document", "", "document"),
    ("sheet.xlsx", sized(100), XLSX, "document", "", "document"),
    ("slides.pptx", sized(100), PPTX, "document", "", "document"),
    ("old.doc", sized(100), "application/msword", "document", "", "document"),
    ("scan.pdf", b"%PDF-1.4", "application/octet-stream", "document", "", "document"),  # typed by its name
    (
        "rows.csv",
        b"a,b",
        "text/csv",
        "document",
        "",
        f"WhatsApp cannot send files of type text/csv as a document. {DOCUMENTS}",
    ),
    (
        "bundle.zip",
        b"PK",
        "application/zip",
        "document",
        "",
        f"WhatsApp cannot send files of type application/zip as a document. {DOCUMENTS}",
    ),
    (
        "tool.exe",
        sized(10),
        "application/x-msdownload",
        "document",
        "",
        f"WhatsApp cannot send files of type application/x-msdownload as a document. {DOCUMENTS}",
    ),
    ("photo.png", PNG, "image/png", "image", "c" * 1025, "A caption has at most 1024 characters."),
]


def page_send(client, chat, name, content, mime, caption):
    upload = SimpleUploadedFile(name, content, content_type=mime)
    response = client.post(reverse("chat:message_send", args=[chat.pk]), {"body": caption, "file": upload}, **HTMX)
    errors = re.findall(r'<p class="composer-error" role="alert">(.*?)</p>', response.content.decode(), re.S)
    return unescape(errors[0]) if errors else None


def api_send(client, name, content, mime, media_type, caption):
    upload = SimpleUploadedFile(name, content, content_type=mime)
    payload = {"to_phone": PHONE, "media_type": media_type, "file": upload, "caption": caption}
    return client.post("/api/whatsapp/send-media", payload, format="multipart")


@pytest.mark.parametrize(("name", "content", "mime", "media_type", "caption", "outcome"), CASES)
def test_the_page_and_the_api_agree_on_each_file(
    agent_client, api_client, chat, enqueued, settings, tmp_path, name, content, mime, media_type, caption, outcome
):
    settings.MEDIA_ROOT = tmp_path
    page_error = page_send(agent_client, chat, name, content, mime, caption)
    page_sent = list(Message.objects.values_list("message_type", flat=True))
    response = api_send(api_client, name, content, mime, media_type, caption)
    if outcome in {rule.media_type for rule in RULES}:
        assert page_error is None
        assert page_sent == [outcome]
        assert response.status_code == 202, response.json()
        assert response.json()["message_type"] == outcome
    else:
        assert page_sent == []
        assert page_error == outcome
        assert response.status_code == 400
        assert response.json()["message"] == outcome
        assert not Message.objects.exists()


def test_the_composer_gets_the_table_it_is_checked_by(agent_client, chat):
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX).content.decode()
    assert f'accept="{accept_attribute()}"' in body
    shown = re.search(r'<script id="media-limits" type="application/json">(.*?)</script>', body, re.S).group(1)
    assert json.loads(shown) == browser_rules()
    assert ".docx" in accept_attribute()
    assert "image/jpeg" in accept_attribute()


def test_the_javascript_and_the_template_carry_no_list_of_their_own(settings):
    for path in ("static/chat/chat.js", "templates/chat/_composer.html"):
        text = (settings.BASE_DIR / path).read_text()
        for mime in ("image/jpeg", "video/mp4", "application/pdf", ".docx"):
            assert mime not in text, f"{path} names {mime}: it belongs in chat.media_rules"


def test_the_inbound_download_limit_is_the_largest_file_of_the_type():
    assert [max_bytes(t) for t in ("image", "video", "audio", "document", "sticker")] == [
        5 * MB,
        16 * MB,
        16 * MB,
        100 * MB,
        500 * KB,
    ]


def test_animation_is_the_vp8x_flag_bit():
    assert is_animated_webp(webp(200, animated=True))
    assert not is_animated_webp(webp(200))
    assert not is_animated_webp(b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x02" * 20)


def test_a_stored_file_takes_the_tables_extension_for_its_mime_type():
    assert extension_for("image/jpeg") == ".jpg"
    assert extension_for("audio/ogg; codecs=opus") == ".ogg"
    assert extension_for("application/vnd.ms-excel") == ".xls"
    assert extension_for("image/gif") == ".gif"  # not in the table: the system's guess
    assert extension_for("") == ""
