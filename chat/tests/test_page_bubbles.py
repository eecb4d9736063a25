import re
from html.parser import HTMLParser

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from chat.models import Message
from chat.tests.conftest import make_message

HTMX = {"HTTP_HX_REQUEST": "true"}


def bubble(client, chat, message):
    """The markup of one bubble in the opened conversation (up to the next bubble or the poll sentinel)."""
    body = client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX).content.decode()
    body = body.split('<div id="conversation-poll"', 1)[0]
    for chunk in body.split('<div class="msg ')[1:]:
        if chunk.split(">", 1)[0].count(f'id="m-{message.pk}"'):
            return '<div class="msg ' + chunk
    raise AssertionError(f"no bubble for message {message.pk}")


def parsed_tags(html):
    """Every (tag, attributes) a browser would build from the markup."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collector().feed(html)
    return found


def test_it_puts_outbound_bubbles_right_and_inbound_left(agent_client, chat):
    inbound = make_message(chat, message_body="hi")
    outbound = make_message(chat, "outbound", message_body="hello!")
    assert 'class="msg msg-inbound"' in bubble(agent_client, chat, inbound)
    assert 'class="msg msg-outbound"' in bubble(agent_client, chat, outbound)


@pytest.mark.parametrize(
    ("status", "tick"),
    [
        ("queued", 'class="ticks ticks-pending" data-status="queued"'),
        ("sent", 'class="ticks ticks-sent" data-status="sent" title="Sent" aria-label="sent">✓<'),
        (
            "delivered",
            'class="ticks ticks-delivered" data-status="delivered" title="Delivered" aria-label="delivered">✓✓<',
        ),
        ("read", 'class="ticks ticks-read" data-status="read" title="Read" aria-label="read">✓✓<'),
    ],
)
def test_it_shows_the_delivery_ticks(agent_client, chat, status, tick):
    message = make_message(chat, "outbound", status=status)
    assert tick in bubble(agent_client, chat, message)


def test_it_shows_no_ticks_on_inbound_messages(agent_client, chat):
    assert "ticks" not in bubble(agent_client, chat, make_message(chat))


def test_it_explains_a_failed_send_and_offers_a_retry(agent_client, chat):
    failed = make_message(chat, "outbound", status="failed", error_code=131047, error_title="Re-engagement message")
    html = bubble(agent_client, chat, failed)
    assert "ticks-failed" in html
    assert "More than 24 hours have passed since the customer last wrote: send a template." in html
    assert reverse("chat:message_retry", args=[failed.pk]) in html


def test_it_falls_back_to_whatsapps_own_words_for_an_unknown_error(agent_client, chat):
    failed = make_message(chat, "outbound", status="failed", error_code=999999, error_details="Something <odd>")
    assert "Something &lt;odd&gt;" in bubble(agent_client, chat, failed)


def test_it_retries_a_failed_message_as_a_new_queued_one(agent_client, chat):
    failed = make_message(chat, "outbound", status="failed", error_code=131026, message_body="are you there")
    response = agent_client.post(reverse("chat:message_retry", args=[failed.pk]), **HTMX)
    assert response.status_code == 200
    assert "Sent again" in response.content.decode()
    assert "chatChanged" in response["HX-Trigger"]
    retry = Message.objects.get(retry_of=failed)
    assert retry.status == "queued"
    assert retry.message_body == "are you there"


def test_it_explains_why_a_message_that_did_not_fail_cannot_be_retried(agent_client, chat):
    sent = make_message(chat, "outbound", status="sent")
    response = agent_client.post(reverse("chat:message_retry", args=[sent.pk]), **HTMX)
    assert "Only a failed message can be sent again." in response.content.decode()
    assert not Message.objects.filter(retry_of=sent).exists()


def test_it_shows_the_exact_time_on_hover(agent_client, chat):
    html = bubble(agent_client, chat, make_message(chat))
    assert re.search(r'<time datetime="[^"]+" title="\w+day \d+ \w+ \d{4}, \d\d:\d\d:\d\d">', html)


def test_it_renders_whatsapp_formatting(agent_client, chat):
    message = make_message(chat, message_body="*bold* _italic_ ~gone~ ```code``` see https://example.com/a?b=1&c=2")
    html = bubble(agent_client, chat, message)
    assert "<strong>bold</strong>" in html
    assert "<em>italic</em>" in html
    assert "<del>gone</del>" in html
    assert "<code>code</code>" in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">' in html


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">click</a>',
        "javascript:alert(1)",
        'https://x.example/"onmouseover="alert(1)',
        "*<script>alert(1)</script>*",
    ],
)
def test_it_renders_customer_markup_inert(agent_client, chat, attack):
    message = make_message(chat, message_body=attack, caption=attack)
    html = bubble(agent_client, chat, message)
    tags = parsed_tags(html)
    assert "script" not in {tag for tag, _ in tags}
    assert "img" not in {tag for tag, _ in tags}
    for _, attrs in tags:
        assert not [name for name, _ in attrs if name.startswith("on")]
        assert not [value for name, value in attrs if name == "href" and "javascript" in (value or "").lower()]
    assert "alert(1)" in html  # shown as text


def test_it_escapes_the_contact_name(agent_client, db):
    from chat.tests.conftest import make_conversation

    chat = make_conversation(name="<script>alert('name')</script>")
    make_message(chat)
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk])).content.decode()
    assert "<script>alert(" not in body
    assert "&lt;script&gt;" in body


def test_it_shows_an_image_inline_through_the_media_view(agent_client, chat):
    image = make_message(
        chat, message_type="image", caption="the *damage*", mime_type="image/jpeg", media_state="ready"
    )
    image.file.save("photo.jpg", ContentFile(b"\xff\xd8\xff fake jpeg"), save=True)
    html = bubble(agent_client, chat, image)
    media = reverse("chat:media", args=[image.pk])
    assert f'<img class="media-image" src="{media}"' in html
    assert f'href="{media}" target="_blank"' in html  # click for full size
    assert "the <strong>damage</strong>" in html
    assert "/media-not-public/" not in html


def test_it_shows_a_placeholder_while_media_is_downloading(agent_client, chat):
    pending = make_message(chat, message_type="video", media_state="pending", message_body="")
    html = bubble(agent_client, chat, pending)
    assert "media-pending" in html
    assert "downloading the video" in html


def test_it_says_when_media_could_not_be_downloaded(agent_client, chat):
    failed = make_message(chat, message_type="audio", media_state="failed")
    assert "could not be downloaded from WhatsApp" in bubble(agent_client, chat, failed)


def test_it_plays_video_and_audio(agent_client, chat):
    video = make_message(chat, message_type="video", mime_type="video/mp4", media_state="ready")
    video.file.save("clip.mp4", ContentFile(b"mp4"), save=True)
    audio = make_message(chat, message_type="audio", mime_type="audio/ogg", media_state="ready")
    audio.file.save("voice.ogg", ContentFile(b"ogg"), save=True)
    assert '<video class="media-video"' in bubble(agent_client, chat, video)
    assert '<audio class="media-audio"' in bubble(agent_client, chat, audio)


def test_it_shows_a_document_as_a_chip_with_name_size_and_download(agent_client, chat):
    doc = make_message(
        chat, message_type="document", mime_type="application/pdf", file_name="Invoice <2>.pdf", file_size=245760
    )
    doc.file.save("invoice.pdf", ContentFile(b"%PDF-1.4"), save=True)
    Message.objects.filter(pk=doc.pk).update(file_size=245760)
    html = bubble(agent_client, chat, doc)
    assert 'class="document"' in html
    assert "download=" in html
    assert "Invoice &lt;2&gt;.pdf" in html
    assert "240.0\xa0KB" in html
    assert ">PDF<" in html


def test_it_shows_a_sticker(agent_client, chat):
    sticker = make_message(chat, message_type="sticker", mime_type="image/webp", media_state="ready", message_body="")
    sticker.file.save("s.webp", ContentFile(b"RIFF"), save=True)
    assert '<img class="media-sticker"' in bubble(agent_client, chat, sticker)


def test_it_links_a_location_to_a_map(agent_client, chat):
    place = {"latitude": 19.076, "longitude": 72.8777, "name": "Madio <HQ>", "address": "Mumbai"}
    html = bubble(agent_client, chat, make_message(chat, message_type="location", message_body="", data=place))
    assert "https://www.openstreetmap.org/?mlat=19.076000&amp;mlon=72.877700" in html
    assert "Madio &lt;HQ&gt;" in html
    assert "Mumbai" in html
    assert 'rel="noopener noreferrer"' in html


def test_it_refuses_a_location_with_coordinates_that_are_not_numbers(agent_client, chat):
    bad = {"latitude": "javascript:alert(1)", "longitude": 2}
    html = bubble(agent_client, chat, make_message(chat, message_type="location", data=bad))
    assert "without valid coordinates" in html
    assert "openstreetmap" not in html


def test_it_shows_shared_contacts_as_a_card(agent_client, chat):
    contacts = {
        "contacts": [
            {"name": {"formatted_name": "Ravi Kumar"}, "phones": [{"phone": "+91 99999 11111", "type": "CELL"}]}
        ]
    }
    html = bubble(agent_client, chat, make_message(chat, message_type="contacts", message_body="", data=contacts))
    assert 'class="contact-card"' in html
    assert "Ravi Kumar" in html
    assert "+91 99999 11111" in html


def test_it_shows_reactions_on_the_bubble_they_react_to_and_not_as_bubbles(agent_client, chat):
    target = make_message(chat, "outbound", message_body="Shipped today")
    reaction = make_message(
        chat, message_type="reaction", message_body="❤️", reply_to_whatsapp_id=target.whatsapp_message_id
    )
    html = bubble(agent_client, chat, target)
    assert 'class="reaction reaction-inbound"' in html
    assert "❤️" in html
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX).content.decode()
    assert f'id="m-{reaction.pk}"' not in body


def test_it_drops_a_removed_reaction(agent_client, chat):
    target = make_message(chat, "outbound", message_body="Shipped today")
    make_message(chat, message_type="reaction", message_body="👍", reply_to_whatsapp_id=target.whatsapp_message_id)
    make_message(chat, message_type="reaction", message_body="", reply_to_whatsapp_id=target.whatsapp_message_id)
    assert "reactions" not in bubble(agent_client, chat, target)


def test_it_shows_the_quoted_message_of_a_reply(agent_client, chat):
    original = make_message(chat, "outbound", message_body="Your total is 4,500")
    reply = make_message(chat, message_body="Can I pay later?", reply_to_whatsapp_id=original.whatsapp_message_id)
    html = bubble(agent_client, chat, reply)
    assert 'class="quote quote-outbound"' in html
    assert "Your total is 4,500" in html
    assert ">You<" in html


def test_it_says_when_the_quoted_message_is_unknown(agent_client, chat):
    reply = make_message(chat, message_body="this one", reply_to_whatsapp_id="wamid.NOT-HERE")
    assert "not in this chat" in bubble(agent_client, chat, reply)


def test_it_shows_a_clear_placeholder_for_unsupported_messages(agent_client, chat):
    html = bubble(
        agent_client, chat, make_message(chat, message_type="unsupported", message_body="", data={"type": "order"})
    )
    assert "can't be shown here" in html
    assert "(order)" in html


def test_it_labels_a_template_message(agent_client, chat):
    data = {"template": {"name": "order_update", "language": "en_US", "parameters": ["42"]}}
    html = bubble(
        agent_client,
        chat,
        make_message(chat, "outbound", message_type="template", message_body="Order 42 shipped", data=data),
    )
    assert "Template · order_update" in html
    assert "Order 42 shipped" in html


def test_it_keeps_the_standing_reaction_when_a_late_one_was_superseded(agent_client, chat):
    target = make_message(chat, "outbound", message_body="Shipped today")
    make_message(chat, message_type="reaction", message_body="🎉", reply_to_whatsapp_id=target.whatsapp_message_id)
    make_message(
        chat,
        message_type="reaction",
        message_body="",
        data={"emoji": "👍", "superseded": True},
        reply_to_whatsapp_id=target.whatsapp_message_id,
    )
    assert "🎉" in bubble(agent_client, chat, target)


def test_it_shows_a_deleted_message_as_deleted_and_an_edited_one_as_edited(agent_client, chat):
    deleted = make_message(chat, message_body="", data={"revoked": True, "revoked_content": {"body": "oops secret"}})
    edited = make_message(chat, message_body="fixed text", data={"edited_at": "2026-11-26T08:00:00+00:00"})
    deleted_html = bubble(agent_client, chat, deleted)
    assert "This message was deleted" in deleted_html
    assert "oops secret" not in deleted_html
    assert 'class="edited"' in bubble(agent_client, chat, edited)


def test_it_shows_why_media_could_not_be_downloaded(agent_client, chat):
    failed = make_message(
        chat, message_type="image", media_state="failed", media_error="WhatsApp no longer has this file."
    )
    assert "WhatsApp no longer has this file." in bubble(agent_client, chat, failed)
