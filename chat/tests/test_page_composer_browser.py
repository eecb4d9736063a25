"""The composer's extras in Chromium: "/" canned responses by keyboard, and the 4,096 counter."""

import os
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from chat.models import CannedResponse, Message
from chat.tests.conftest import CHROMIUM, make_conversation, make_message
from links.models import EntityLink

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def open_conversation(page, live_server, chat, problems):
    # Script errors and failed requests of the page's own (the browser's favicon probe aside). htmx's
    # settle copies an empty style attribute onto the sidebar's swapped inputs, which the CSP blocks
    # harmlessly: that report is left out, as it has nothing to do with the composer.
    page.on("pageerror", lambda error: problems.append(str(error)))

    def console(m):
        htmx_settle = "Applying inline style" in m.text and "htmx" in str(m.location.get("url"))
        if m.type == "error" and "Failed to load resource" not in m.text and not htmx_settle:
            problems.append(m.text)

    page.on("console", console)
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None,
    )
    page.goto(f"{live_server.url}{reverse('chat:conversation', args=[chat.pk])}")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    expect(page.locator("#composer .composer-text")).to_be_visible()
    page.wait_for_load_state("load")  # htmx has processed the composer


@pytest.fixture
def asha(db):
    chat = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    make_message(chat, message_body="Where is my order?")
    return chat


def test_slash_suggests_canned_responses_and_the_keyboard_inserts_one(page, live_server, agent, asha, shots):
    agent.first_name = "Alice"
    agent.save()
    EntityLink.objects.create(message=make_message(asha), entity_type="project", entity_id="42")
    CannedResponse.objects.create(shortcut="hello", text="Hello {{contact_name}}, this is {{agent_name}}.")
    CannedResponse.objects.create(shortcut="order", text="Your {{record}} is on its way.")
    CannedResponse.objects.create(shortcut="thanks", text="Thank you!")
    problems = []
    page.set_viewport_size(DESKTOP)
    open_conversation(page, live_server, asha, problems)
    box = page.locator("#composer .composer-text")
    box.press("/")
    listbox = page.locator("#composer [role=listbox]")
    expect(listbox.locator("[role=option]")).to_have_count(3)
    expect(box).to_have_attribute("aria-expanded", "true")
    page.screenshot(path=shots / "canned-desktop.png")
    box.press("ArrowDown")
    expect(listbox.locator("[aria-selected=true]")).to_contain_text("/order")
    expect(box).to_have_attribute("aria-activedescendant", listbox.locator("[aria-selected=true]").get_attribute("id"))
    box.press("ArrowUp")
    box.press("ArrowUp")  # wraps to the last
    expect(listbox.locator("[aria-selected=true]")).to_contain_text("/thanks")
    box.press("Escape")
    expect(listbox).to_have_count(0)
    expect(box).to_have_value("/")
    box.press("o")  # "/o": only /order
    expect(listbox.locator("[role=option]")).to_have_count(1)
    box.press("Enter")  # inserts, does not send
    expect(box).to_have_value("Your Project #42 is on its way.")
    expect(listbox).to_have_count(0)
    assert not Message.objects.filter(direction="outbound").exists()
    box.fill("")
    box.press("/")
    box.press("h")
    expect(listbox.locator("[role=option]")).to_have_count(1)
    page.set_viewport_size(PHONE)
    page.screenshot(path=shots / "canned-phone.png")
    listbox.locator("[role=option]").first.click()
    expect(box).to_have_value("Hello Asha Patel, this is Alice.")
    box.press("Enter")  # now it sends
    expect(box).to_have_value("")
    assert Message.objects.get(direction="outbound").message_body == "Hello Asha Patel, this is Alice."
    assert problems == []


def test_the_counter_appears_near_the_limit_and_a_longer_paste_is_refused_not_cut(
    page, live_server, agent, asha, shots
):
    problems = []
    page.set_viewport_size(DESKTOP)
    open_conversation(page, live_server, asha, problems)
    box = page.locator("#composer .composer-text")
    counter = page.locator("#composer .composer-count")
    box.fill("a" * 3000)
    expect(counter).to_be_hidden()
    box.fill("a" * 3950)
    expect(counter).to_have_text("3,950 / 4,096")
    expect(counter).not_to_have_class("composer-count over")
    page.screenshot(path=shots / "counter-near-desktop.png")
    box.fill("b" * 5000)  # as a paste: nothing is cut
    expect(box).to_have_value("b" * 5000)
    expect(counter).to_have_text("5,000 / 4,096 · 904 too many")
    expect(counter).to_have_class("composer-count over")
    expect(box).to_have_attribute("aria-invalid", "true")
    page.set_viewport_size(PHONE)
    page.screenshot(path=shots / "counter-over-phone.png")
    page.set_viewport_size(DESKTOP)
    box.press("Enter")
    expect(page.locator("#composer .composer-error:not(.client-error)")).to_have_text(
        "A message has at most 4,096 characters; this one has 5,000."
    )
    expect(page.locator("#composer .composer-text")).to_have_value("b" * 5000)
    expect(page.locator("#composer .composer-count")).to_have_text("5,000 / 4,096 · 904 too many")
    page.screenshot(path=shots / "counter-refused-desktop.png")
    assert not Message.objects.filter(direction="outbound").exists()
    assert problems == []


def test_the_attach_menu_sends_reply_buttons_after_naming_a_title_too_long(page, live_server, agent, asha, shots):
    problems = []
    page.set_viewport_size(DESKTOP)
    open_conversation(page, live_server, asha, problems)
    page.locator("#composer .attach-menu > summary").click()
    page.locator("#composer .rich-buttons > summary").click()
    page.fill("#composer [name=buttons_body]", "Shall we deliver tomorrow morning?")
    page.fill("#composer [name=button_1]", "Yes, tomorrow")
    page.fill("#composer [name=button_2]", "No, another day please")  # 22 characters
    page.screenshot(path=shots / "attach-buttons-desktop.png")
    page.locator("#composer [name=kind][value=buttons]").click()
    expect(page.locator("#composer .composer-error:not(.client-error)")).to_have_text(
        "Button 2: at most 20 characters (this one has 22)."
    )
    expect(page.locator("#composer [name=button_2]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#composer [name=buttons_body]")).to_have_value("Shall we deliver tomorrow morning?")
    page.set_viewport_size(PHONE)
    page.screenshot(path=shots / "attach-buttons-refused-phone.png")
    page.set_viewport_size(DESKTOP)
    page.fill("#composer [name=button_2]", "Another day")
    page.locator("#composer [name=button_2]").press("Enter")  # sends this panel, not the text
    bubble = page.locator(".msg-outbound", has_text="Shall we deliver tomorrow morning?")
    expect(bubble.locator(".interactive-buttons li")).to_have_text(["Yes, tomorrow", "Another day"], timeout=12_000)
    expect(page.locator("#composer .attach-menu")).not_to_have_attribute("open", "")
    page.screenshot(path=shots / "attach-buttons-sent-desktop.png")
    assert Message.objects.get(direction="outbound").message_type == "interactive"
    assert problems == []


def test_the_empty_template_list_syncs_from_whatsapp_at_a_click(page, live_server, agent, whatsapp, shots):
    closed = make_conversation(inbound_ago=timezone.timedelta(days=3))
    make_message(closed, "outbound", message_body="Our offer ends soon.")
    problems = []
    page.set_viewport_size(DESKTOP)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server.url}{reverse('chat:conversation', args=[closed.pk])}")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    empty = page.locator("#composer .template-empty")
    expect(empty).to_contain_text("No approved templates yet.")
    page.screenshot(path=shots / "templates-empty-desktop.png")
    page.set_viewport_size(PHONE)
    page.screenshot(path=shots / "templates-empty-phone.png")
    page.set_viewport_size(DESKTOP)
    empty.get_by_role("button", name="Sync templates").click()
    expect(page.locator("#composer select[name=template] option")).to_have_count(6)  # "Choose…" and 5 approved
    expect(page.locator("#composer .template-sync-note")).to_have_text(
        "Synced 6 template(s) from WhatsApp; 5 approved."
    )
    assert Message.objects.count() == 1  # the sync sent nothing
    page.screenshot(path=shots / "templates-synced-desktop.png")
    assert problems == []


def test_a_location_a_contact_card_and_a_list_from_the_attach_menu_show_as_bubbles(
    page, live_server, agent, asha, shots
):
    problems = []
    page.set_viewport_size(DESKTOP)
    open_conversation(page, live_server, asha, problems)

    def panel(kind):
        page.locator("#composer .attach-menu > summary").click()
        page.locator(f"#composer .rich-{kind} > summary").click()

    panel("location")
    page.fill("#composer [name=location_latitude]", "19.0760")
    page.fill("#composer [name=location_longitude]", "72.8777")
    page.fill("#composer [name=location_name]", "Madio office")
    page.locator("#composer [name=kind][value=location]").click()
    expect(page.locator(".msg-outbound .location")).to_contain_text("Madio office", timeout=12_000)
    panel("contact")
    page.fill("#composer [name=contact_name]", "Ravi Kumar")
    page.fill("#composer [name=contact_phone]", "+91 98765 00000")
    page.locator("#composer [name=contact_phone]").press("Enter")
    expect(page.locator(".msg-outbound .contact-card")).to_contain_text("Ravi Kumar", timeout=12_000)
    panel("list")
    page.fill("#composer [name=list_body]", "When shall we deliver?")
    page.fill("#composer [name=list_button]", "Pick a slot")
    page.fill("#composer [name=list_rows]", "Morning | 9 to 12\nEvening | 5 to 8")
    page.locator("#composer [name=kind][value=list]").click()
    bubble = page.locator(".msg-outbound", has_text="When shall we deliver?")
    expect(bubble.locator(".interactive-list summary")).to_contain_text("Pick a slot", timeout=12_000)
    bubble.locator(".interactive-list summary").click()
    expect(bubble.locator(".interactive-list li")).to_have_count(2)
    page.screenshot(path=shots / "rich-bubbles-desktop.png")
    page.set_viewport_size(PHONE)
    page.screenshot(path=shots / "rich-bubbles-phone.png")
    assert sorted(Message.objects.filter(direction="outbound").values_list("message_type", flat=True)) == [
        "contacts",
        "interactive",
        "location",
    ]
    assert problems == []
