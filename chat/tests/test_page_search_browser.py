"""Finding an old message in a real browser: the sidebar's Messages, the jump, the newer pages, the poll."""

import re

from django.utils import timezone

from chat.tests.conftest import make_conversation, make_message
from chat.tests.test_page_browser import POLL_WAIT, expect, log_in, pytestmark  # noqa: F401


def in_view(page, locator):
    box, pane = locator.bounding_box(), page.locator("#messages").bounding_box()
    return box is not None and pane["y"] <= box["y"] and box["y"] + box["height"] <= pane["y"] + pane["height"]


def test_a_search_finds_an_old_message_and_opens_the_conversation_there(page, live_server, agent, shots):
    asha = make_conversation(inbound_ago=timezone.timedelta(minutes=5))
    start = timezone.now() - timezone.timedelta(days=20)
    for n in range(130):
        body = "The serial number is MX-4471, under the battery" if n == 20 else f"Update {n} on the order"
        make_message(asha, message_body=body, created_at=start + timezone.timedelta(hours=n))
    log_in(page, live_server, agent)

    page.fill("#chat-search", "serial batt")
    hit = page.locator(".message-hit")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text("serial")
    page.screenshot(path=shots / "search-hit.png")
    hit.locator("a").click()

    found = page.locator(".msg.msg-found")
    expect(found).to_contain_text("MX-4471")
    assert in_view(page, found)
    assert re.search(r"\?message=\d+$", page.url)
    expect(page.locator("#message-list .msg")).to_have_count(61)  # ten before, the hit, fifty after
    page.screenshot(path=shots / "search-jumped.png")
    page.set_viewport_size({"width": 390, "height": 844})
    found.scroll_into_view_if_needed()
    expect(found).to_be_in_viewport()
    page.screenshot(path=shots / "search-jumped-phone.png")
    page.set_viewport_size({"width": 1280, "height": 720})

    # Scrolling down brings the newer pages until the newest; then the poll carries on below them.
    for _ in range(4):
        page.locator("#messages").evaluate("box => { box.scrollTop = box.scrollHeight; }")
        page.wait_for_timeout(300)
    expect(page.locator(".msg", has_text="Update 129 on the order")).to_be_visible()
    expect(page.locator("#newer")).to_have_count(0)
    make_message(asha, message_body="Did you find it?")
    expect(page.locator("#message-list .msg").last).to_contain_text("Did you find it?", timeout=POLL_WAIT)
    ids = [int(i) for i in page.locator("#message-list .msg").evaluate_all("rows => rows.map(r => r.dataset.id)")]
    assert ids == sorted(set(ids))  # in order, none twice
