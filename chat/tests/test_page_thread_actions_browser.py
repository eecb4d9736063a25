"""Reply, react and copy from a bubble's menu in Chromium, at desktop and phone sizes, sent through the simulator."""

import os
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone

from chat.models import Message
from chat.services.conversations import typing_indicator_key
from chat.tests.conftest import CHROMIUM, make_conversation, make_message
from chat.tests.test_page_browser import log_in, open_chat
from integrations.tasks import message_send_task

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

POLL_WAIT = 12_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
]


def open_menu(page, message):
    bubble = page.locator(f"#m-{message.pk}")
    bubble.hover()
    bubble.locator(".msg-menu summary").click()
    panel = bubble.locator(".msg-panel")
    expect(panel).to_be_visible()
    box = panel.bounding_box()  # inside the screen, whichever side the bubble is on
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= page.viewport_size["width"]
    return bubble


def reply_and_react(page, live_server, agent, whatsapp, shots, size):
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    make_message(asha, "outbound", message_body="Your table for four is booked for 8 pm.")
    question = make_message(asha, message_body="Can we bring the dog? 🐕", read=True)
    cache.delete(typing_indicator_key(asha.pk))
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")

    # React: the shared palette, cloned into this bubble's menu, beside "Link to a record".
    bubble = open_menu(page, question)
    expect(bubble.locator(".link-form")).to_contain_text("Link to")
    expect(bubble.locator(".react")).to_have_count(6)
    page.screenshot(path=shots / f"thread-menu-{size}.png")
    bubble.locator(".react[title='React ❤️']").click()
    expect(page.locator(f"#m-{question.pk} .reaction-outbound")).to_have_text("❤️")
    reaction = Message.objects.get(conversation=asha, message_type="reaction")
    assert message_send_task(reaction.pk) == "sent"

    # Reply: the quote strip above the composer, cancelled once, then sent.
    bubble = open_menu(page, question)
    bubble.locator(".act-reply").click()
    strip = page.locator("#composer .reply-strip")
    expect(strip).to_be_visible()
    expect(strip.locator(".quote-who")).to_have_text("Asha Patel")
    expect(strip.locator(".quote-text")).to_contain_text("Can we bring the dog?")
    page.screenshot(path=shots / f"thread-reply-strip-{size}.png")
    strip.locator(".reply-cancel").click()
    expect(strip).to_be_hidden()
    open_menu(page, question).locator(".act-reply").click()
    box = page.locator("#composer .composer-text")
    box.fill("Of course, dogs are welcome on the terrace.")
    # Typing was reported (the presence signal), and the customer's "typing…" is booked for 20 s.
    deadline = time.monotonic() + 5
    while cache.get(typing_indicator_key(asha.pk)) != question.pk and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cache.get(typing_indicator_key(asha.pk)) == question.pk
    box.press("Enter")
    mine = page.locator(".msg-outbound", has_text="dogs are welcome")
    expect(mine).to_be_visible(timeout=POLL_WAIT)
    expect(mine.locator(".quote")).to_contain_text("Can we bring the dog?")
    expect(page.locator("#composer .reply-strip")).to_be_hidden()  # a fresh composer
    reply = Message.objects.get(
        conversation=asha, direction="outbound", reply_to_whatsapp_id__gt="", message_type="text"
    )
    assert reply.reply_to_whatsapp_id == question.whatsapp_message_id
    assert message_send_task(reply.pk) == "sent"
    expect(mine.locator(".ticks")).to_have_attribute("data-status", "sent", timeout=POLL_WAIT)
    page.screenshot(path=shots / f"thread-reply-react-{size}.png")

    # Meta received both in its own shapes.
    reaction_body, reply_body = (s["body"] for s in whatsapp.state()["sends"])
    assert reaction_body["reaction"] == {"message_id": question.whatsapp_message_id, "emoji": "❤️"}
    assert reply_body["context"] == {"message_id": question.whatsapp_message_id}

    # Choosing our reaction again takes it back (an empty emoji).
    bubble = open_menu(page, question)
    pressed = bubble.locator(".react[aria-pressed=true]")
    expect(pressed).to_have_text("❤️")
    pressed.click()
    expect(page.locator(f"#m-{question.pk} .reaction-outbound")).to_have_count(0)
    removal = Message.objects.filter(conversation=asha, message_type="reaction").order_by("-id").first()
    assert removal.message_body == ""
    assert message_send_task(removal.pk) == "sent"
    assert whatsapp.state()["sends"][-1]["body"]["reaction"]["emoji"] == ""
    open_menu(page, reply)  # our own bubble's menu, on the other side
    page.screenshot(path=shots / f"thread-menu-outbound-{size}.png")


def test_staff_reply_to_and_react_to_a_customers_message_on_the_desktop(page, live_server, agent, whatsapp, shots):
    page.set_viewport_size({"width": 1280, "height": 800})
    reply_and_react(page, live_server, agent, whatsapp, shots, "desktop")


def test_staff_reply_to_and_react_to_a_customers_message_on_a_phone(browser, live_server, agent, whatsapp, shots):
    context = browser.new_context(viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        reply_and_react(page, live_server, agent, whatsapp, shots, "phone")
    finally:
        context.close()


def test_copy_text_puts_the_bubbles_text_on_the_clipboard_and_unsent_messages_offer_no_reply(page, live_server, agent):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    asha = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    order = make_message(asha, message_body="Order *A-1042*, two boxes")
    queued = make_message(asha, "outbound", message_body="On its way", status="queued")
    log_in(page, live_server, agent)
    open_chat(page, "Asha Patel")
    bubble = open_menu(page, order)
    bubble.locator(".act-copy").click()
    expect(bubble.locator(".act-copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "Order A-1042, two boxes"
    pending = open_menu(page, queued)
    expect(pending.locator(".act-copy")).to_be_visible()
    expect(pending.locator(".act-reply")).to_be_hidden()
    expect(pending.locator(".react-form")).to_be_hidden()
    expect(page.locator(".msg-menu[open]")).to_have_count(1)  # opening one closed the other


def test_outside_the_window_the_menu_offers_no_reply_or_reaction(page, live_server, agent):
    ben = make_conversation(phone="+14155550123", name="Ben Ode", inbound_ago=timezone.timedelta(days=2))
    old = make_message(ben, message_body="Thanks for yesterday", apply=False)
    log_in(page, live_server, agent)
    open_chat(page, "Ben Ode")
    bubble = open_menu(page, old)
    expect(bubble.locator(".act-reply")).to_be_hidden()
    expect(bubble.locator(".react-form")).to_be_hidden()
    expect(bubble.locator(".act-copy")).to_be_visible()
    expect(bubble.locator(".link-form")).to_be_visible()


def test_a_hostile_name_and_text_stay_text_in_the_reply_strip(page, live_server, agent):
    hostile = '<img src=x id=pwned onerror="document.body.dataset.pwned=1">'
    eve = make_conversation(name=f"Eve {hostile}", inbound_ago=timezone.timedelta(hours=1))
    question = make_message(eve, message_body=f"Hi {hostile} there")
    log_in(page, live_server, agent)
    open_chat(page, "Eve")
    open_menu(page, question).locator(".act-reply").click()
    strip = page.locator("#composer .reply-strip")
    expect(strip.locator(".quote-who")).to_have_text(f"Eve {hostile}")
    expect(strip.locator(".quote-text")).to_have_text(f"Hi {hostile} there")
    assert page.locator("#pwned").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None
