from django.core.files.base import ContentFile
from django.urls import reverse

from chat.tests.conftest import make_message


def stored(chat, message_type, name, content, mime, **fields):
    message = make_message(chat, message_type=message_type, mime_type=mime, media_state="ready", **fields)
    message.file.save(name, ContentFile(content), save=True)
    return message


def test_it_serves_an_image_inline_with_its_stored_type_and_nosniff(agent_client, chat):
    image = stored(chat, "image", "p.jpg", b"\xff\xd8\xffjpeg", "image/jpeg")
    response = agent_client.get(reverse("chat:media", args=[image.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content) == b"\xff\xd8\xffjpeg"


def test_it_serves_documents_as_attachments_with_their_file_name(agent_client, chat):
    doc = stored(chat, "document", "x.pdf", b"%PDF", "application/pdf", file_name="Quote 7.pdf")
    response = agent_client.get(reverse("chat:media", args=[doc.pk]))
    assert response["Content-Disposition"].startswith("attachment")
    assert "Quote 7.pdf" in response["Content-Disposition"]


def test_it_never_serves_a_scriptable_type_inline(agent_client, chat):
    svg = stored(chat, "image", "evil.svg", b"<svg onload=alert(1)>", "image/svg+xml")
    html = stored(chat, "document", "evil.html", b"<script>alert(1)</script>", "text/html")
    for message in (svg, html):
        response = agent_client.get(reverse("chat:media", args=[message.pk]))
        assert response["Content-Disposition"].startswith("attachment")
        assert response["X-Content-Type-Options"] == "nosniff"


def test_it_answers_404_while_the_media_is_still_downloading(agent_client, chat):
    pending = make_message(chat, message_type="image", media_state="pending")
    assert agent_client.get(reverse("chat:media", args=[pending.pk])).status_code == 404


def test_it_answers_404_when_the_file_is_gone_from_storage(agent_client, chat):
    image = stored(chat, "image", "gone.jpg", b"x", "image/jpeg")
    image.file.storage.delete(image.file.name)
    assert agent_client.get(reverse("chat:media", args=[image.pk])).status_code == 404


def test_it_refuses_media_to_staff_without_the_chat_permission(client, outsider, chat):
    image = stored(chat, "image", "p.jpg", b"x", "image/jpeg")
    client.force_login(outsider)
    assert client.get(reverse("chat:media", args=[image.pk])).status_code == 403


def test_it_sends_anonymous_visitors_to_log_in_for_media(client, chat):
    image = stored(chat, "image", "p.jpg", b"x", "image/jpeg")
    response = client.get(reverse("chat:media", args=[image.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_marks_each_media_chip_with_its_sharepoint_backup_state_and_says_nothing_when_backup_is_off(
    agent_client, chat
):
    stored(
        chat,
        "document",
        "q.pdf",
        b"%PDF",
        "application/pdf",
        sharepoint_state="uploaded",
        media_url="https://contoso.sharepoint.com/sites/erp/q.pdf",
    )
    stored(chat, "image", "p.jpg", b"x", "image/jpeg", sharepoint_state="failed", sharepoint_error="HTTP 507")
    stored(chat, "image", "o.jpg", b"x", "image/jpeg", sharepoint_state="disabled")
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk])).content.decode()
    assert 'href="https://contoso.sharepoint.com/sites/erp/q.pdf"' in body
    assert "The SharePoint backup failed; an admin can retry it: HTTP 507" in body
    assert 'aria-label="The SharePoint backup failed; an admin can retry it: HTTP 507"' in body  # a mark, not words
    assert "SharePoint backup is off" not in body
    assert "Disabled" not in body
    assert body.count('class="backup backup-') == 2


def test_it_never_links_a_backup_address_that_is_not_https(agent_client, chat):
    stored(chat, "image", "p.jpg", b"x", "image/jpeg", sharepoint_state="uploaded", media_url="javascript:alert(1)")
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk])).content.decode()
    assert "javascript:alert(1)" not in body
    assert "backup-uploaded" in body
