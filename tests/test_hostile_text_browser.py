"""Hostile customer text in a real browser (Debian's Chromium driven by Playwright): nothing runs."""

import os
from pathlib import Path

import pytest
from django.urls import NoReverseMatch, reverse

from chat.models import Conversation, Message
from tests.hostile import EMOJI, FILE_NAME, NAME, PAYLOADS, SHORT, tasks_recorded  # noqa: F401
from tests.test_hostile_text import deliver, text

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"


def _routed():
    try:
        reverse("chat:conversation", args=[1])
    except NoReverseMatch:
        return False
    return True


pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tasks_recorded"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
    pytest.mark.skipif(not _routed(), reason="the chat page's conversation view is not routed yet"),
]

# Everything that would mean the customer's text became markup or code.
INJECTED_SELECTOR = ", ".join(
    f"{scope} {what}"
    for scope in ("#messages", "#sidebar", "#pane-header")
    for what in (
        "script",
        "iframe",
        "svg[onload]",
        "img[src='x']",
        "[onerror]",
        "[onload]",
        "[onclick]",
        "[onmouseover]",
        "[onfocus]",
        "b",
        "u",
        "a[href^='javascript' i]",
    )
)
# Whether `word` inside the first element matching `selector` is laid out left to right on screen.
LEFT_TO_RIGHT = """([selector, word]) => {
  const walker = document.createTreeWalker(document.querySelector(selector), NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode()) && !node.data.includes(word));
  const start = node.data.indexOf(word);
  const left = (at) => {
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + 1);
    return range.getBoundingClientRect().left;
  };
  return left(start) < left(start + word.length - 1);
}"""
# Records what a page's Content-Security-Policy blocks, and any script a payload manages to run.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective));
"""


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
    }


@pytest.fixture
def agent(django_user_model):
    """Alice with the chat permission, made here: a transactional test may have flushed the migration's group."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    permission, _ = Permission.objects.get_or_create(
        content_type=ContentType.objects.get_for_model(Conversation),
        codename="use_chat",
        defaults={"name": "Can use the WhatsApp chat"},
    )
    user = django_user_model.objects.create_user(username="alice", password="alice-password-1")
    user.user_permissions.add(permission)
    return user


@pytest.fixture
def hostile_chat(db):
    deliver(*(text(n, body) for n, body in enumerate(PAYLOADS.values())))
    document = {
        "from": "919876543210",
        "id": "wamid.HOSTILEDOC",
        "timestamp": "1764140001",
        "type": "document",
        "document": {"caption": SHORT["attribute"], "filename": FILE_NAME, "mime_type": "application/pdf", "id": "1"},
    }
    reaction = {
        "from": "919876543210",
        "id": "wamid.HOSTILEREACT",
        "timestamp": "1764140002",
        "type": "reaction",
        "reaction": {"message_id": "wamid.HOSTILE0", "emoji": EMOJI},
    }
    deliver(document, reaction)
    conversation = Conversation.objects.get()
    # A template whose name and parameters came from the ERP, which copied them from the customer.
    Message.objects.create(
        conversation=conversation,
        direction="outbound",
        message_type="template",
        status="sent",
        whatsapp_message_id="wamid.HOSTILETEMPLATE",
        message_body=f"Dear {NAME}, your order {SHORT['img']} shipped",
        data={"template": {"name": SHORT["script"], "language": "en", "params": [NAME, SHORT["img"]]}},
    )
    return conversation


def test_it_shows_hostile_customer_text_inert_in_a_real_browser(page, live_server, agent, hostile_chat, tmp_path):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.add_init_script(WATCH)
    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    expect(page.locator("#sidebar")).to_contain_text("<img src=x onerror=alert('name')>")

    page.goto(f"{live_server.url}{reverse('chat:conversation', args=[hostile_chat.pk])}")
    messages = page.locator("#messages")
    expect(messages).to_contain_text(PAYLOADS["script"])
    # Give event handlers every chance: hover and focus everything in the thread, then let
    # a poll come and go so partials swapped in by htmx are checked too.
    for element in page.locator("#messages .bubble, #messages a").all()[:80]:
        element.hover(timeout=2000, trial=False) if element.is_visible() else None
    page.keyboard.press("Tab")
    page.wait_for_timeout(4000)
    page.screenshot(path=tmp_path / "hostile.png", full_page=False)

    assert dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__violations") == []
    assert page.locator(INJECTED_SELECTOR).count() == 0
    shown = messages.inner_text()
    for key in ("script", "img", "svg", "entities", "template"):
        assert PAYLOADS[key] in shown, key
    assert "&lt;script&gt;alert('entity')" in shown  # entities stay as typed, not decoded into tags
    assert EMOJI in page.locator("#messages .reaction").all_inner_texts()
    assert FILE_NAME in shown
    # A right-to-left override in the customer's name or file name does not reverse the page's own words.
    assert page.evaluate(LEFT_TO_RIGHT, ["#messages .media-pending", "downloading"])
    assert page.evaluate(LEFT_TO_RIGHT, ["#pane-header .number", "+919876543210"])
    long_bubble = page.locator("#messages .bubble", has_text="A" * 99).first
    assert len(long_bubble.inner_text()) >= 65_000
    # And it is all still stored exactly as sent.
    assert Message.objects.get(whatsapp_message_id="wamid.HOSTILE0").message_body == PAYLOADS["script"]
    assert Conversation.objects.get().contact_name == NAME
