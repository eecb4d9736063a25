"""Two colleagues share one conversation, each in a browser of their own (two Chromium contexts
against one live server): one starts it with a new number by template, the other sees it; a
hand-over, the new owner hearing of it, a private note with a mention going back, and the
customer's reply bringing a resolved conversation back to both."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from chat.models import Agent, Conversation, MessageTemplate
from chat.services import message_receive
from chat.tests.test_page_browser import POLL_WAIT, expect, open_chat
from conftest import agents_group

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CUSTOMER = "+12025550123"

# Headless Chromium has no notification centre: the page's `new Notification(...)` calls are kept
# in a list the test reads. Injected before any page script runs, outside the page's CSP.
NOTIFICATIONS_SEEN = """
window.__notified = [];
window.Notification = function (title, options) {
  window.__notified.push({ title: title, body: (options || {}).body });
};
window.Notification.permission = "granted";
window.Notification.requestPermission = function () { return Promise.resolve("granted"); };
"""


@pytest.fixture
def ravi(django_user_model):
    user = django_user_model.objects.create_user(username="ravi", first_name="Ravi", password="ravi-password-1")
    user.groups.add(agents_group())
    Agent.objects.create(user=user, desktop_notifications=True)
    return user


def signed_in(browser, live_server, username, password, *, notifications=False):
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    if notifications:
        context.add_init_script(NOTIFICATIONS_SEEN)
    page = context.new_page()
    page.goto(f"{live_server.url}{reverse('chat:page')}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    expect(page.locator("#sidebar")).to_be_visible()
    return page


def notified(page):
    return page.evaluate("window.__notified")


def test_two_colleagues_hand_over_a_conversation_and_talk_about_it_in_notes(browser, live_server, agent, ravi, shots):
    welcome = MessageTemplate.objects.create(
        name="welcome_back",
        language="en_US",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Hello {{1}}, your order is on its way."}],
    )
    alice = signed_in(browser, live_server, "alice", "alice-password-1")
    other = signed_in(browser, live_server, "ravi", "ravi-password-1", notifications=True)

    # Alice starts a conversation with a new number by template.
    alice.fill("#chat-search", "+1 202 555 0123")
    alice.locator(".new-chat-offer a").click()
    expect(alice.locator(".new-chat-header")).to_contain_text("Message +1 202 555 0123")
    alice.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")
    alice.select_option("select[name=template]", str(welcome.pk))
    alice.fill("input[name=body_1]", "Asha")
    alice.locator(".send-template").click()
    expect(alice.locator(".msg-outbound", has_text="Hello Asha, your order is on its way.")).to_be_visible()
    alice.fill("#chat-search", "")
    customer = Conversation.objects.get(other_party=CUSTOMER)

    # Ravi sees it in All, unassigned; under Mine there is nothing yet.
    row = other.locator(f"#conversation-{customer.pk}")
    expect(row).to_contain_text("You: Hello Asha", timeout=POLL_WAIT)
    other.screenshot(path=shots / "team-ravi-sees-new-chat.png")
    other.locator(".owner-filters").get_by_role("link", name=re.compile("^Mine")).click()
    expect(other.locator(".conversation-row")).to_have_count(0)

    # Alice hands it to Ravi from the Assign… menu.
    header = alice.locator("#pane-header")
    expect(header).to_contain_text(CUSTOMER)
    header.locator("summary", has_text="Assign…").click()
    header.get_by_role("button", name="Ravi").click()
    expect(header).to_contain_text("Assigned to Ravi")
    expect(alice.locator(".activity-line", has_text="alice assigned this to Ravi")).to_be_visible(timeout=POLL_WAIT)

    # Ravi hears of it without reloading: the row shows up under Mine, the tab title counts it,
    # and one desktop notification names who gave it to him.
    expect(row).to_be_visible(timeout=POLL_WAIT)
    expect(other).to_have_title(re.compile(r"^\(\d+\) "), timeout=POLL_WAIT)
    other.wait_for_function("window.__notified.length > 0", timeout=POLL_WAIT)
    assert [n["title"] for n in notified(other)] == ["alice gave you a conversation"]
    other.screenshot(path=shots / "team-ravi-handed-over.png")

    # Ravi answers Alice in a private note; Alice's open pane shows it, her name highlighted.
    open_chat(other, CUSTOMER)
    expect(other.locator(".owner-filters .active")).to_have_text(re.compile("^Mine"))  # opening keeps the filter
    other.get_by_role("tab", name="Private note").click()
    note_box = other.locator(".note-text")
    note_box.fill("@alice did the courier collect it?")
    note_box.press("Enter")
    expect(other.locator(".bubble-note", has_text="did the courier collect it")).to_be_visible(timeout=POLL_WAIT)
    note = alice.locator(".bubble-note", has_text="did the courier collect it")
    expect(note).to_be_visible(timeout=POLL_WAIT)
    expect(note.locator(".mention")).to_have_text("@alice")
    alice.screenshot(path=shots / "team-alice-sees-note.png")

    # Ravi resolves it; the customer writes again and both panes show it reopened.
    other.locator("#pane-header").get_by_role("button", name="Resolve").click()
    expect(other.locator("#pane-header").get_by_role("button", name="Reopen")).to_be_visible()
    expect(header.get_by_role("button", name="Reopen")).to_be_visible(timeout=POLL_WAIT)
    message_receive(
        wamid="wamid.AGAIN1",
        phone=CUSTOMER,
        user_id="",
        name="Asha Patel",
        sender=CUSTOMER,
        at=timezone.now(),
        fields={"message_type": "text", "message_body": "It has not come yet"},
    )
    for page in (alice, other):
        expect(page.locator(".activity-line", has_text="Reopened: the customer wrote")).to_be_visible(timeout=POLL_WAIT)
        expect(page.locator("#pane-header").get_by_role("button", name="Resolve")).to_be_visible(timeout=POLL_WAIT)
    other.screenshot(path=shots / "team-ravi-reopened.png")
    assert Conversation.objects.get(pk=customer.pk).assignee == ravi
    # Ravi was looking at the conversation when the customer wrote: nothing more popped up.
    assert len(notified(other)) == 1
