"""Labels, the contact panel and the export in a real browser, at desktop and phone sizes."""

import os
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation, Label
from chat.tests.conftest import CHROMIUM, make_conversation, make_message

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
]

SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 780}, "is_mobile": True, "has_touch": True},
}


@pytest.mark.parametrize("size", SIZES)
def test_apply_a_label_filter_by_it_and_name_the_contact(browser, live_server, agent, shots, size):
    Label.objects.create(name="VIP", colour="green")
    Label.objects.create(name="Supplier", colour="blue")
    asha = make_conversation(name="asha_p", inbound_ago=timezone.timedelta(hours=1))
    make_message(asha, message_body="Is the invoice ready?")
    ben = make_conversation(phone="+14155550123", name="Ben Ode", inbound_ago=timezone.timedelta(hours=2))
    make_message(ben, message_body="Thanks!")
    context = browser.new_context(**SIZES[size])
    page = context.new_page()
    errors = []
    page.on("console", lambda line: errors.append(line.text) if line.type == "error" else None)
    try:
        page.goto(f"{live_server.url}{reverse('chat:page')}")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "alice-password-1")
        page.click("button[type=submit]")
        page.locator(".conversation-row", has_text="asha_p").locator("a").click()
        header = page.locator("#pane-header")
        expect(header).to_contain_text("asha_p")

        # Put the VIP label on from the header's Labels… menu.
        header.locator(".label-menu summary").click()
        header.locator(".label-menu .menu-item", has_text="VIP").click()
        expect(header.locator(".header-labels .label-chip")).to_have_text("VIP")
        expect(page.locator(".activity-line", has_text="alice added the label VIP")).to_be_visible(timeout=12_000)
        page.screenshot(path=shots / f"labels-{size}-applied.png")
        if size == "desktop":  # a narrower window: the header's actions wrap instead of running off
            page.set_viewport_size({"width": 1024, "height": 700})
            page.screenshot(path=shots / "labels-desktop-1024-applied.png")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1024
            page.set_viewport_size(SIZES["desktop"]["viewport"])

        # Name the contact from the Contact… panel; the profile name stays beside it.
        header.locator(".contact-menu summary").click()
        panel = header.locator(".contact-panel")
        expect(panel).to_contain_text("First contact")
        expect(panel.locator(".label-chip")).to_have_text("VIP")
        page.screenshot(path=shots / f"labels-{size}-contact-panel.png")
        panel.locator("input[name=display_name]").fill("Asha Patel (Madio)")
        panel.locator("button", has_text="Save name").click()
        expect(header.locator(".name")).to_have_text("Asha Patel (Madio)")
        expect(header.locator(".profile-name")).to_have_text("~asha_p")
        assert Conversation.objects.get(pk=asha.pk).staff_name == "Asha Patel (Madio)"

        # Filter the sidebar by the label: only Asha, under her new name, with her chip.
        if size == "phone":
            page.locator(".back").click()
        sidebar = page.locator("#sidebar")
        expect(sidebar.locator(".conversation-row", has_text="Asha Patel (Madio)")).to_be_visible(timeout=12_000)
        sidebar.locator(".label-filters .filter", has_text="VIP").click()
        expect(sidebar.locator(".conversation-row")).to_have_count(1)
        row = sidebar.locator(".conversation-row")
        expect(row).to_contain_text("Asha Patel (Madio)")
        expect(row.locator(".label-chip")).to_have_text("VIP")
        expect(sidebar.locator(".label-filters .filter.active")).to_contain_text("VIP")
        page.screenshot(path=shots / f"labels-{size}-filtered.png")
        # The filter stays through the next poll, and clearing it brings Ben back.
        page.wait_for_timeout(3500)
        expect(sidebar.locator(".conversation-row")).to_have_count(1)
        sidebar.locator(".label-filters .filter.active").click()
        expect(sidebar.locator(".conversation-row")).to_have_count(2)

        # The printable transcript from the header's ⋮ menu, as it prints: nothing on it is blocked by the CSP.
        if size == "phone":
            page.locator(".conversation-row", has_text="Asha Patel (Madio)").locator("a").click()
        header.locator(".more-menu summary").click()
        expect(header.locator(".more-menu .menu-item", has_text="Download as CSV")).to_be_visible()
        page.screenshot(path=shots / f"labels-{size}-more-menu.png")
        with context.expect_page() as opened:
            header.locator(".more-menu .menu-item", has_text="Print transcript").click()
        page = opened.value
        errors.clear()
        page.on("console", lambda line: errors.append(line.text) if line.type == "error" else None)
        page.wait_for_load_state()
        expect(page.locator("h1")).to_contain_text("Asha Patel (Madio)")
        expect(page.locator(".t-msg")).to_have_count(1)
        page.screenshot(path=shots / f"labels-{size}-transcript.png", full_page=True)
        page.emulate_media(media="print")
        expect(page.locator("#print-transcript")).to_be_hidden()
        page.screenshot(path=shots / f"labels-{size}-transcript-print.png", full_page=True)
        assert errors == []
    finally:
        context.close()
