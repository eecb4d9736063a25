"""Starting a conversation in a real browser: New chat, a number, a template with every parameter, the bubble."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from chat.models import Conversation, Message, MessageTemplate
from chat.tests.conftest import CHROMIUM, make_conversation, make_message

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
]


@pytest.fixture
def shipment_ready(db):
    return MessageTemplate.objects.create(
        name="shipment_ready",
        language="en_US",
        status="APPROVED",
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["MD-1042"]}},
            {"type": "BODY", "text": "Hello {{1}}, order {{2}} is ready.", "example": {"body_text": [["Asha", "X"]]}},
            {"type": "FOOTER", "text": "Madio"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Track",
                        "url": "https://t.example/{{1}}",
                        "example": ["https://t.example/trk42"],
                    },
                    {"type": "COPY_CODE", "text": "Copy code", "example": "SAVE20"},
                ],
            },
        ],
    )


def settled(page):
    """Wait until htmx has swapped and processed the new content (so its listeners are on it)."""
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")


def log_in(page, live_server):
    page.goto(f"{live_server.url}{reverse('chat:page')}")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    expect(page.locator("#sidebar")).to_be_visible()


def test_new_chat_then_a_template_then_the_sent_bubble(page, live_server, agent, shipment_ready, shots):
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page_errors = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    ben = make_conversation(phone="+14155550123", name="Ben Ode")
    make_message(ben, message_body="Hi")
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server)

    # A number that has a conversation is listed, with no offer; New chat with it opens it.
    page.fill("#chat-search", "+1 415 555 0123")
    expect(page.locator(".conversation-row")).to_have_count(1)
    expect(page.locator(".new-chat-offer")).to_have_count(0)
    page.click(".new-chat-button")
    expect(page.locator(".new-chat-header")).to_contain_text("New chat")
    page.fill("#new-chat-to", "001 415 555 0123")
    page.click(".new-chat-number button[type=submit]")
    expect(page.locator("#pane-header")).to_contain_text("Ben Ode")

    # A number nobody has a conversation with is offered; the offer opens a template composer.
    page.fill("#chat-search", "+1 (202) 555-0123")
    offer = page.locator(".new-chat-offer")
    expect(offer).to_contain_text("Message +1 202 555 0123")
    page.screenshot(path=shots / "new-chat-offer.png")
    offer.locator("a").click()
    expect(page.locator(".new-chat-header")).to_contain_text("Message +1 202 555 0123")
    settled(page)
    page.select_option("select[name=template]", str(shipment_ready.pk))
    expect(page.locator(".template-param")).to_have_count(5)
    for label in ("Header value 1", "Body value 1", "Body value 2", "Button 'Track' link ending"):
        expect(page.locator(".template-param-label", has_text=label)).to_be_visible()
    page.fill("input[name=header_1]", "MD-7")
    page.fill("input[name=body_1]", "Ravi")
    page.fill("input[name=body_2]", "MD-7")
    page.fill("input[name=button_0_1]", "trk7")
    page.fill("input[name=button_1_code]", "THANKS10")
    expect(page.locator(".template-preview-body")).to_have_text("Hello Ravi, order MD-7 is ready.")
    page.screenshot(path=shots / "new-chat-template.png")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator(".send-template")).to_be_visible()
    page.screenshot(path=shots / "new-chat-template-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    assert not Conversation.objects.filter(other_party="+12025550123").exists()

    send_button = page.locator(".send-template")
    send_button.dblclick()  # hx-disabled-elt: the second click finds the button disabled
    bubble = page.locator(".msg-outbound", has_text="Hello Ravi, order MD-7 is ready.")
    expect(bubble).to_be_visible()
    chat = Conversation.objects.get(other_party="+12025550123")
    expect(page.locator("#pane")).to_have_attribute("data-conversation", str(chat.pk))
    assert page.url.endswith(reverse("chat:conversation", args=[chat.pk]))
    expect(page.locator(f"#conversation-{chat.pk}")).to_be_visible()
    page.screenshot(path=shots / "new-chat-sent.png")
    assert Message.objects.filter(conversation=chat).count() == 1
    assert Message.objects.get(conversation=chat).data["template"]["components"][-1]["sub_type"] == "copy_code"
    # hx-disabled-elt matches the send button (htmx logs an error when a selector matches nothing), and
    # the page's script runs without an error. (htmx's own style-src-attr reports on every pane swap are
    # left to the CSP tests: opening any conversation makes them.)
    assert [p for p in problems if "returned no matches" in p or "Uncaught" in p] == []
    assert page_errors == []


def test_the_entity_view_starts_a_conversation_about_its_record(page, live_server, agent, shipment_ready, shots):
    page.set_viewport_size({"width": 1024, "height": 900})
    log_in(page, live_server)
    page.goto(f"{live_server.url}{reverse('links:entity', args=['project', '42'])}")
    start = page.locator("#new-chat")
    expect(start).to_contain_text("Start a conversation about Project #42")
    start.locator("input[name=to]").fill("+1 202 555 0123")
    start.locator(".new-chat-number button[type=submit]").click()
    expect(start).to_contain_text("Message +1 202 555 0123")
    settled(page)
    start.locator("select[name=template]").select_option(str(shipment_ready.pk))
    for name, value in [
        ("header_1", "MD-7"),
        ("body_1", "Ravi"),
        ("body_2", "MD-7"),
        ("button_0_1", "trk7"),
        ("button_1_code", "THANKS10"),
    ]:
        start.locator(f"input[name={name}]").fill(value)
    start.locator(".send-template").click()
    expect(page.locator("#new-chat")).to_contain_text("Sent to +12025550123")
    # The entity view's poll brings the linked message into its groups.
    expect(page.locator(".entity-group .msg-outbound", has_text="Hello Ravi, order MD-7 is ready.")).to_be_visible()
    page.screenshot(path=shots / "entity-new-chat.png", full_page=True)
    message = Message.objects.get()
    assert [(link.entity_type, link.entity_id) for link in message.entity_links.all()] == [("project", "42")]
