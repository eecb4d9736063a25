"""File names a customer or a staff member chooses never pick where a file lands or how it is served."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from chat.payload import safe_file_name
from chat.services import conversation_get_or_create, message_queue
from integrations.sharepoint import safe_name

HOSTILE = [
    "../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "/etc/shadow",
    "C:\\Windows\\system32\\evil.exe",
    "report\x00.pdf.exe",
    "CON",
    "nul.pdf",
    "LPT1.txt",
    "aux",
    "..",
    ".",
    "",
    " . ",
    ".htaccess",
    "invoice\r\nSet-Cookie: stolen=1.pdf",
    'quote";filename="evil.html',
    "<script>alert(1)</script>.pdf",
    "\u202egpj.exe",  # right-to-left override: shows as "exe.jpg"
    "zero\u200bwidth\ufeff.pdf",
    "a" * 300 + ".pdf",
    "é" * 300 + ".pdf",
    "%2e%2e%2fetc%2fpasswd",
]
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def assert_safe_file_name(name):
    assert name
    assert "/" not in name
    assert "\\" not in name
    assert "\x00" not in name
    assert name not in {".", ".."}
    assert all(ch.isprintable() for ch in name), repr(name)
    assert name.split(".")[0].strip().lower() not in WINDOWS_RESERVED, name
    assert len(name) <= 255


@pytest.mark.parametrize("name", HOSTILE)
def test_it_makes_every_hostile_name_a_plain_file_name(name):
    assert_safe_file_name(safe_file_name(name))
    assert_safe_file_name(safe_name(name))


def assert_inside_media_root(stored):
    root = Path(settings.MEDIA_ROOT).resolve()
    path = (root / stored).resolve()
    assert path.is_relative_to(root), stored
    assert path.is_file()
    assert_safe_file_name(path.name)
    return path


@pytest.fixture(autouse=True)
def _no_worker(monkeypatch):
    """Sends are the worker's; here only what is stored counts."""
    import integrations.tasks

    class Recorder:
        def delay(self, message_id):
            pass

    monkeypatch.setattr(integrations.tasks, "message_send_task", Recorder(), raising=False)


@pytest.fixture
def conversation(db):
    conversation = conversation_get_or_create(phone="+919876543210", name="Asha")
    conversation.last_inbound_at = timezone.now()
    conversation.save()
    return conversation


@pytest.mark.parametrize("name", HOSTILE)
def test_it_stores_an_upload_with_a_hostile_name_inside_the_media_root(conversation, agent, name):
    before = set(Path(settings.MEDIA_ROOT).rglob("*"))
    message = message_queue(
        conversation=conversation,
        author=agent,
        message_type="document",
        file=ContentFile(b"%PDF-1.4 test", name=name or "x"),
        file_name=name,
        mime_type="application/pdf",
    )
    message.refresh_from_db()
    path = assert_inside_media_root(message.file.name)
    assert path.read_bytes() == b"%PDF-1.4 test"
    assert set(Path(settings.MEDIA_ROOT).rglob("*")) - before <= {path, *path.parents}
    assert "\x00" not in message.file_name


def media_url(message):
    try:
        return reverse("chat:media", args=[message.pk])
    except NoReverseMatch:
        return None


@pytest.mark.parametrize("name", HOSTILE)
def test_it_serves_a_hostile_name_as_a_safe_attachment(conversation, agent, agent_client, name):
    message = message_queue(
        conversation=conversation,
        author=agent,
        message_type="document",
        file=ContentFile(b"%PDF-1.4 test", name="x.pdf"),
        file_name=name,
        mime_type="application/pdf",
    )
    url = media_url(message)
    if url is None:
        pytest.skip("the media view is not routed yet")
    response = agent_client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 test"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert "\r" not in disposition
    assert "\n" not in disposition
    assert "/" not in disposition.split("filename", 1)[-1].replace("utf-8''", "")
    assert response["X-Content-Type-Options"] == "nosniff"
