"""The chat page in a real browser: Debian's Chromium driven by Playwright against a live server.

Statuses are moved the way the webhook area moves them (the row's status and
updated_at), so the page's polls must pick them up without a reload.
"""

import os
import re
import struct
import time
import zlib
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Message
from chat.services import message_receive
from chat.tests.conftest import CHROMIUM, make_conversation, make_message
from integrations.inbound import apply_status
from links.services import entity_link_create
from simulator.meta import SAMPLE_MEDIA

# Playwright's sync API runs an event loop in this thread; the ORM calls made by the
# test body are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

POLL_WAIT = 12_000  # ms: a few 3-second polls

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
]


def png(width=64, height=48, rgb=(0, 168, 132)):
    """A real PNG of one colour, so the browser has an image to draw."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def log_in(page, live_server, agent):
    page.goto(f"{live_server.url}{reverse('chat:page')}")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    expect(page.locator("#sidebar")).to_be_visible()


def open_chat(page, name):
    page.locator(".conversation-row", has_text=name).locator("a").click()
    expect(page.locator("#pane-header")).to_contain_text(name)


def test_it_shows_the_badge_and_clears_it_when_the_conversation_opens(page, live_server, agent, shots):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    make_message(asha, message_body="Is the invoice ready?")
    make_message(asha, message_body="I need it *today*")
    ben = make_conversation(phone="+14155550123", name="Ben Ode", inbound_ago=timezone.timedelta(days=2))
    make_message(ben, "outbound", message_body="Thanks Ben!", status="read")
    log_in(page, live_server, agent)
    row = page.locator(".conversation-row", has_text="Asha Patel")
    expect(row.locator(".badge")).to_have_text("2")
    page.screenshot(path=shots / "inbox.png")
    page.fill("#chat-search", "+1 415 555 0123")
    expect(page.locator(".conversation-row")).to_have_count(1)
    expect(page.locator(".conversation-row")).to_contain_text("Ben Ode")
    page.fill("#chat-search", "")
    expect(page.locator(".conversation-row")).to_have_count(2)
    open_chat(page, "Asha Patel")
    expect(row.locator(".badge")).to_have_count(0)
    expect(page.locator(".msg-inbound").last).to_contain_text("I need it today")
    expect(page.locator(".msg-inbound strong")).to_have_text("today")
    assert Conversation.objects.get(pk=asha.pk).unread_count == 0
    assert page.url.endswith(reverse("chat:conversation", args=[asha.pk]))


def test_it_sends_a_text_and_the_ticks_follow_the_statuses_without_reload(page, live_server, agent):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    make_message(asha, message_body="Hello?")
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    box = page.locator(".composer-text")
    box.fill("First line")
    box.press("Shift+Enter")
    box.type("second line")
    box.press("Enter")
    bubble = page.locator(".msg-outbound", has_text="second line")
    expect(bubble).to_be_visible(timeout=POLL_WAIT)
    expect(bubble.locator(".ticks")).to_have_attribute("data-status", "queued")
    expect(box).to_have_value("")
    sent = Message.objects.get(conversation=asha, direction="outbound")
    assert sent.message_body == "First line\nsecond line"
    page.evaluate("window.__marker = 'no reload'")
    # Meta accepted the send (the send task stores the wamid); statuses arrive by webhook.
    Message.objects.filter(pk=sent.pk).update(whatsapp_message_id="wamid.OUT1")
    for status in ("sent", "delivered", "read"):
        assert apply_status({"id": "wamid.OUT1", "status": status, "timestamp": str(int(time.time()))}) == "applied"
        expect(bubble.locator(".ticks")).to_have_attribute("data-status", status, timeout=POLL_WAIT)
    expect(bubble.locator(".ticks-read")).to_have_css("color", "rgb(83, 189, 235)")
    assert page.evaluate("window.__marker") == "no reload"


def test_it_keeps_half_typed_text_while_polls_bring_news(page, live_server, agent):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    make_message(asha, message_body="first")
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    page.locator(".composer-text").fill("half a thought")
    make_message(asha, message_body="An inbound message, live")
    expect(page.locator(".msg-inbound", has_text="An inbound message, live")).to_be_visible(timeout=POLL_WAIT)
    expect(page.locator(".composer-text")).to_have_value("half a thought")
    assert Conversation.objects.get(pk=asha.pk).unread_count == 0  # seen while open


def test_it_sends_an_image_dropped_onto_the_conversation(page, live_server, agent):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    make_message(asha, message_body="Send me the photo")
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    transfer = page.evaluate_handle(
        """(bytes) => { const dt = new DataTransfer();
             dt.items.add(new File([new Uint8Array(bytes)], 'site.png', {type: 'image/png'})); return dt; }""",
        list(png()),
    )
    page.dispatch_event("#pane", "dragenter", {"dataTransfer": transfer})
    expect(page.locator("#pane")).to_have_class("pane dragging")
    page.dispatch_event("#pane", "drop", {"dataTransfer": transfer})
    expect(page.locator(".attachment-name")).to_contain_text("site.png")
    page.locator(".composer-text").fill("the site today")
    page.locator(".composer-text").press("Enter")
    bubble = page.locator(".msg-outbound.msg", has_text="the site today")
    expect(bubble.locator("img.media-image")).to_be_visible(timeout=POLL_WAIT)
    expect(bubble.locator(".ticks")).to_have_attribute("data-status", "queued")
    message = Message.objects.get(conversation=asha, direction="outbound")
    assert (message.message_type, message.mime_type, message.caption) == ("image", "image/png", "the site today")
    # Served by the permission-checked media view and decoded by the browser.
    image = bubble.locator("img.media-image")
    expect(image).to_have_attribute("src", reverse("chat:media", args=[message.pk]))
    image.evaluate("img => img.complete ? null : new Promise(done => img.addEventListener('load', done))")
    assert image.evaluate("img => img.naturalWidth") == 64


def test_it_refuses_a_file_whatsapp_would_refuse_before_uploading(page, live_server, agent):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    make_message(asha)
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    page.set_input_files(
        ".file-input", files=[{"name": "big.png", "mimeType": "image/png", "buffer": b"x" * (5 * 1024 * 1024 + 1)}]
    )
    expect(page.locator(".client-error")).to_contain_text("Photos must be JPEG or PNG, at most 5 MB.")
    expect(page.locator(".attachment")).to_be_hidden()


def test_it_explains_a_failed_send_and_retries_it(page, live_server, agent):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    make_message(asha, message_body="hi")
    failed = make_message(asha, "outbound", message_body="Your quote", status="sent")
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    bubble = page.locator(f"#m-{failed.pk}")
    expect(bubble.locator(".ticks")).to_have_attribute("data-status", "sent")
    # WhatsApp reports the failure later, by status webhook.
    error = {"code": 131047, "title": "Re-engagement message", "error_data": {"details": "24 hours passed"}}
    now = str(int(time.time()))
    assert apply_status({"id": failed.whatsapp_message_id, "status": "failed", "timestamp": now, "errors": [error]})
    expect(bubble.locator(".ticks")).to_have_attribute("data-status", "failed", timeout=POLL_WAIT)
    expect(bubble.locator(".failure-reason")).to_have_text(
        "More than 24 hours have passed since the customer last wrote: send a template."
    )
    bubble.locator("button.retry").click()
    expect(bubble.locator(".retried")).to_have_text("Sent again")
    retry = Message.objects.get(retry_of=failed)
    expect(page.locator(f"#m-{retry.pk} .ticks")).to_have_attribute("data-status", "queued", timeout=POLL_WAIT)


def test_it_shows_every_kind_of_message(page, live_server, agent, shots):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    now = timezone.now()

    def at(minutes):
        return {"whatsapp_timestamp": now - timezone.timedelta(minutes=minutes)}

    question = make_message(
        asha, message_body="Hi! Is *this* the _right_ number for ~old~ orders? https://example.com/o?id=7", **at(30)
    )
    make_message(
        asha,
        "outbound",
        message_body="Yes, how can I help?",
        status="read",
        reply_to_whatsapp_id=question.whatsapp_message_id,
        **at(29),
    )
    image = make_message(
        asha, message_type="image", caption="The damaged box", mime_type="image/png", media_state="ready", **at(28)
    )
    image.file.save("box.png", ContentFile(png(320, 200, (180, 120, 60))), save=True)
    make_message(
        asha, message_type="reaction", message_body="🙏", reply_to_whatsapp_id=image.whatsapp_message_id, apply=False
    )
    make_message(asha, message_type="video", media_state="pending", message_body="", **at(27))
    audio = make_message(
        asha, message_type="audio", mime_type="audio/ogg", media_state="ready", message_body="", **at(26)
    )
    audio.file.save("voice.ogg", ContentFile(b"OggS"), save=True)
    doc = make_message(
        asha,
        "outbound",
        message_type="document",
        mime_type="application/pdf",
        file_name="Invoice-2291.pdf",
        status="delivered",
        **at(25),
    )
    doc.file.save("invoice.pdf", ContentFile(b"%PDF-1.4 " + b"0" * 48000), save=True)
    sticker = make_message(
        asha, message_type="sticker", mime_type="image/png", media_state="ready", message_body="", **at(24)
    )
    sticker.file.save("sticker.png", ContentFile(png(96, 96, (255, 200, 0))), save=True)
    make_message(
        asha,
        message_type="location",
        message_body="",
        data={"latitude": 19.0760, "longitude": 72.8777, "name": "Madio warehouse", "address": "Andheri East, Mumbai"},
        **at(23),
    )
    make_message(
        asha,
        message_type="contacts",
        message_body="",
        data={"contacts": [{"name": {"formatted_name": "Ravi Kumar"}, "phones": [{"phone": "+91 99999 11111"}]}]},
        **at(22),
    )
    make_message(asha, message_type="unsupported", message_body="", data={"type": "order"}, **at(21))
    make_message(
        asha,
        "outbound",
        message_type="template",
        message_body="Hello Asha, order #42 has shipped.",
        status="sent",
        data={"template": {"name": "order_update", "language": "en_US", "parameters": ["Asha", "#42"]}},
        **at(20),
    )
    failed = make_message(
        asha, "outbound", message_body="Are you still there?", status="failed", error_code=131026, **at(19)
    )
    entity_link_create(message=failed, entity_type="project", entity_id="42")
    make_message(asha, "outbound", message_body="Sending…", status="queued", **at(1))
    log_in(page, live_server, agent)
    page.set_viewport_size({"width": 1280, "height": 2000})
    open_chat(page, "Asha Patel")
    expect(page.locator(".media-image")).to_be_visible()
    expect(page.locator(".reaction")).to_have_text("🙏")
    expect(page.locator(".quote")).to_contain_text("Is *this* the _right_ number")
    expect(page.locator(".media-pending")).to_contain_text("downloading the video")
    expect(page.locator(".document .doc-name")).to_have_text("Invoice-2291.pdf")
    expect(page.locator(".location")).to_contain_text("Madio warehouse")
    expect(page.locator(".contact-card")).to_contain_text("Ravi Kumar")
    expect(page.locator(".unsupported")).to_contain_text("can't be shown here")
    expect(page.locator(".link-chip")).to_contain_text("Project #42")
    expect(page.locator(".msg .text a[rel='noopener noreferrer']")).to_have_attribute(
        "href", "https://example.com/o?id=7"
    )
    expect(page.locator(".media-image")).to_have_js_property("complete", True)  # no eval under the CSP
    page.screenshot(path=shots / "conversation-every-type.png")
    # The pending video fills in by poll once the inbound area has downloaded it.
    video = Message.objects.get(conversation=asha, message_type="video")
    video.file.save("clip.mp4", ContentFile(b"\x00\x00\x00\x18ftypmp42"), save=False)
    video.media_state = "ready"
    video.mime_type = "video/mp4"
    video.updated_at = timezone.now()
    video.save()
    expect(page.locator(f"#m-{video.pk} video.media-video")).to_be_attached(timeout=POLL_WAIT)


def test_it_links_a_message_from_its_bubble_and_the_entity_view_shows_only_linked_ones(page, live_server, agent, shots):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    make_message(asha, message_body="Unrelated chatter")
    target = make_message(asha, message_body="Photos of site 42 attached")
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    bubble = page.locator(f"#m-{target.pk}")
    bubble.hover()
    bubble.locator(".msg-menu summary").click()
    bubble.locator(".link-form select").select_option("project")
    bubble.locator(".link-form input[name=entity_id]").fill("42")
    bubble.locator(".link-form button").click()
    expect(page.locator(f"#m-{target.pk} .link-chip")).to_contain_text("Project #42")
    page.goto(f"{live_server.url}{reverse('links:entity', args=['project', '42'])}")
    expect(page.locator(".entity-group")).to_have_count(1)
    expect(page.locator(".msg")).to_have_count(1)
    expect(page.locator(".msg")).to_contain_text("Photos of site 42 attached")
    page.locator(".composer-text").fill("Update on project 42")
    page.locator(".composer-text").press("Enter")
    expect(page.locator(".msg-outbound", has_text="Update on project 42")).to_be_visible(timeout=POLL_WAIT)
    page.screenshot(path=shots / "entity-view.png")


def test_it_pages_the_entity_view_into_its_groups_and_keeps_the_pages_through_polls(page, live_server, agent):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    carl = make_conversation(phone="+447911123456", name="Carl Jones", inbound_ago=timezone.timedelta(hours=1))
    first_of_carl = make_message(carl, message_body="Carl's old note")
    entity_link_create(message=first_of_carl, entity_type="project", entity_id="7")
    asha_messages = []
    for n in range(55):
        asha_messages.append(make_message(asha, message_body=f"Site note {n}"))
        entity_link_create(message=asha_messages[-1], entity_type="project", entity_id="7")
    log_in(page, live_server, agent)
    page.goto(f"{live_server.url}{reverse('links:entity', args=['project', '7'])}")
    expect(page.locator(".msg")).to_have_count(50)
    expect(page.locator(".entity-group")).to_have_count(1)
    page.locator("#entity-older button").click()
    expect(page.locator(".msg")).to_have_count(56)
    expect(page.locator(f"#entity-group-{asha.pk} .msg").first).to_contain_text("Site note 0")
    expect(page.locator(".entity-group").last).to_contain_text("Carl's old note")
    expect(page.locator("#entity-older")).to_have_count(0)
    newest = make_message(asha, message_body="Fresh from site")
    entity_link_create(message=newest, entity_type="project", entity_id="7")
    expect(page.locator(".msg", has_text="Fresh from site")).to_be_visible(timeout=POLL_WAIT)
    expect(page.locator(".msg")).to_have_count(57)


def test_it_loads_older_history_when_scrolling_up_and_keeps_the_view_still(page, live_server, agent):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    for n in range(120):
        make_message(asha, message_body=f"history {n}", read=True, apply=n == 119)
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    expect(page.locator(".msg").last).to_contain_text("history 119")
    page.wait_for_load_state("networkidle")
    assert page.locator(".msg").count() == 50  # nothing older loads until the agent scrolls up
    first_shown = page.locator(".msg", has_text="history 70")
    page.locator("#messages").evaluate("box => box.scrollTop = 0")
    expect(page.locator(".msg")).to_have_count(100, timeout=POLL_WAIT)
    expect(first_shown).to_be_in_viewport()  # the page did not jump to the top of the older batch
    page.locator("#messages").evaluate("box => box.scrollTop = 0")
    expect(page.locator(".msg")).to_have_count(120, timeout=POLL_WAIT)
    expect(page.locator("#older")).to_have_count(0)


def test_it_becomes_two_screens_on_a_phone(browser, live_server, agent, shots):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    make_message(asha, message_body="Hello from my phone")
    context = browser.new_context(viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        log_in(page, live_server, agent)
        expect(page.locator("#pane")).to_be_hidden()
        page.screenshot(path=shots / "mobile-inbox.png")
        page.locator(".conversation-row a").first.click()
        expect(page.locator("#pane-header")).to_be_visible()
        expect(page.locator("#sidebar")).to_be_hidden()
        page.screenshot(path=shots / "mobile-conversation.png")
        page.locator(".back").click()
        expect(page.locator("#sidebar")).to_be_visible()
    finally:
        context.close()


def test_the_sidebar_filters_by_status_and_owner_and_the_title_counts_what_concerns_me(page, live_server, agent, shots):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1), assignee=agent)
    make_message(asha, message_body="Is the invoice ready?")
    ben = make_conversation(phone="+14155550123", name="Ben Ode", inbound_ago=timezone.timedelta(hours=2))
    make_message(ben, message_body="Hello?")
    done = make_conversation(phone="+14155550199", name="Dora Done", status="resolved")
    make_message(done, "outbound", message_body="All sorted.", status="read")
    log_in(page, live_server, agent)
    expect(page).to_have_title("(2) WhatsApp · Madio")
    expect(page.locator(".conversation-row")).to_have_count(2)
    expect(page.locator(".conversation-row", has_text="Asha Patel").locator(".assignee-tag")).to_have_text("alice")
    page.screenshot(path=shots / "sidebar-filters.png")
    page.locator(".owner-filters .filter", has_text="Mine").click()
    expect(page.locator(".conversation-row")).to_have_count(1)
    expect(page.locator(".conversation-row")).to_contain_text("Asha Patel")
    page.locator(".status-filters .filter", has_text="Resolved").click()
    expect(page.locator(".conversation-row")).to_have_count(0)
    page.locator(".owner-filters .filter", has_text="All").click()
    expect(page.locator(".conversation-row")).to_have_count(1)
    expect(page.locator(".conversation-row")).to_contain_text("Dora Done")
    page.screenshot(path=shots / "sidebar-resolved.png")
    page.locator(".status-filters .filter", has_text="Open").click()
    make_message(ben, message_body="Anyone there?")  # the poll keeps the filter and the count follows
    expect(page.locator(".conversation-row")).to_have_count(2, timeout=POLL_WAIT)
    expect(page).to_have_title("(2) WhatsApp · Madio")


def test_staff_take_and_resolve_a_conversation_from_its_header(page, live_server, agent, shots):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    make_message(asha, message_body="Is the invoice ready?")
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    header = page.locator("#pane-header")
    expect(header).to_contain_text("Unassigned")
    header.get_by_role("button", name="Assign to me").click()
    expect(header).to_contain_text("Assigned to alice")
    expect(page.locator(".activity-line", has_text="alice took this conversation")).to_be_visible(timeout=POLL_WAIT)
    header.get_by_role("button", name="Resolve").click()
    expect(header.get_by_role("button", name="Reopen")).to_be_visible()
    expect(page.locator(".activity-line", has_text="alice resolved this")).to_be_visible(timeout=POLL_WAIT)
    page.screenshot(path=shots / "header-resolved.png")
    # The conversation left the Open list; a customer's new message brings it back, reopened.
    expect(page.locator(".conversation-row", has_text="Asha Patel")).to_have_count(0, timeout=POLL_WAIT)
    message_receive(
        wamid="wamid.BACK1",
        phone=asha.other_party,
        user_id="",
        name="",
        sender=asha.other_party,
        at=timezone.now(),
        fields={"message_type": "text", "message_body": "One more thing"},
    )
    expect(page.locator(".activity-line", has_text="Reopened: the customer wrote")).to_be_visible(timeout=POLL_WAIT)
    expect(header.get_by_role("button", name="Resolve")).to_be_visible(timeout=POLL_WAIT)
    expect(page.locator(".conversation-row", has_text="Asha Patel")).to_have_count(1, timeout=POLL_WAIT)
    page.screenshot(path=shots / "header-reopened.png")


def test_a_customers_sticker_shows_and_a_picture_the_browser_cannot_decode_says_so(page, live_server, agent):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    mime, name, data = SAMPLE_MEDIA["sticker"]  # what the simulator (and so `make run`) delivers
    sticker = make_message(asha, message_type="sticker", mime_type=mime, media_state="ready", message_body="")
    sticker.file.save(name, ContentFile(data), save=True)
    damaged = make_message(asha, message_type="sticker", mime_type=mime, media_state="ready", message_body="")
    damaged.file.save("damaged.webp", ContentFile(b"RIFF\x10\x00\x00\x00WEBPVP8 not a picture"), save=True)
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    expect(page.locator(".media-sticker")).to_have_count(1)
    expect(page.locator(".media-sticker")).to_have_js_property("naturalWidth", 128)
    placeholder = page.locator(".media-undecodable")
    expect(placeholder).to_have_text("A sticker this browser can't show · Download")
    assert placeholder.get_attribute("href") == reverse("chat:media", args=[damaged.pk])


def test_the_menu_of_the_last_bubble_opens_upward_above_the_composer(page, live_server, agent):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    for n in range(12):
        make_message(asha, message_body=f"Line {n}")
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    thread = page.locator("#messages").bounding_box()

    def menu_of(text):
        bubble = page.locator(".msg", has_text=text)
        bubble.hover()
        bubble.locator(".msg-menu summary").click()
        form = bubble.locator(".link-form")
        expect(form).to_be_visible()
        return bubble.locator(".msg-menu"), form.bounding_box()

    last_menu, last_form = menu_of("Line 11")
    expect(last_menu).to_have_class(re.compile(r"\bopens-up\b"))
    assert last_form["y"] >= thread["y"]
    assert last_form["y"] + last_form["height"] <= thread["y"] + thread["height"]
    last_menu.locator("summary").click()  # close it
    page.locator("#messages").evaluate("box => { box.scrollTop = 0; }")
    first_menu, _ = menu_of("Line 0")
    expect(first_menu).not_to_have_class(re.compile(r"\bopens-up\b"))  # room below: it opens downward


def test_the_thread_shows_a_chip_for_each_day_and_runs_of_bubbles_from_one_side(page, live_server, agent, shots):
    asha = make_conversation(inbound_ago=timezone.timedelta(minutes=5))
    now = timezone.localtime()
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    long_ago = noon - timezone.timedelta(days=40)
    three_days_ago = noon - timezone.timedelta(days=3)
    yesterday = noon - timezone.timedelta(days=1)
    today = max(now - timezone.timedelta(minutes=3), now.replace(hour=0, minute=0, second=0, microsecond=0))
    for body, direction, at in (
        ("Old question", "inbound", long_ago),
        ("Any news?", "inbound", three_days_ago),
        ("First of yesterday", "inbound", yesterday),
        ("Second of yesterday", "inbound", yesterday + timezone.timedelta(minutes=1)),
        ("Our answer", "outbound", yesterday + timezone.timedelta(minutes=2)),
        ("Good morning", "inbound", today),
    ):
        make_message(asha, direction, message_body=body, whatsapp_timestamp=at, created_at=at)
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    chips = page.locator("#message-list > .day-chip")
    weekday = three_days_ago.strftime("%A")
    expected = [f"{long_ago.day} {long_ago.strftime('%B')}", weekday, "Yesterday", "Today"]
    if long_ago.year != now.year:
        expected[0] += f" {long_ago.year}"
    expect(chips).to_have_text(expected)
    second = page.locator(".msg", has_text="Second of yesterday")
    expect(second).to_have_class(re.compile(r"\bmsg-continued\b"))
    expect(page.locator(".msg", has_text="First of yesterday")).not_to_have_class(re.compile(r"msg-continued"))
    expect(page.locator(".msg", has_text="Our answer")).not_to_have_class(re.compile(r"msg-continued"))
    expect(second.locator(".meta time")).to_have_text("12:01")  # the chip says the day; the bubble the time
    page.screenshot(path=shots / "thread-days.png")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(chips.last).to_be_in_viewport()
    page.screenshot(path=shots / "thread-days-phone.png")
    page.set_viewport_size({"width": 1280, "height": 720})

    # A poll brings today's next message and a late one stamped yesterday: neither adds a chip.
    make_message(asha, message_body="Are you there?")
    make_message(asha, message_body="Sent yesterday, arrived now", whatsapp_timestamp=yesterday)
    expect(page.locator(".msg", has_text="arrived now")).to_be_visible(timeout=POLL_WAIT)
    expect(chips).to_have_text(expected)
    expect(page.locator(".msg", has_text="Are you there?")).to_have_class(re.compile(r"\bmsg-continued\b"))
