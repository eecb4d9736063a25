"""The Content-Security-Policy in a real browser (Debian's Chromium): every page works under it, nothing is blocked."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (.ci/run installs it)"),
]
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(
  e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile + ":" + e.lineNumber));
"""


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
    }


def watched(page):
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.add_init_script(WATCH)
    return errors


def test_it_runs_the_api_docs_under_the_policy(page, live_server):
    errors = watched(page)
    page.goto(f"{live_server.url}{reverse('docs')}")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Madio WhatsApp API")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.evaluate("window.__violations") == []
    assert [e for e in errors if "Content Security Policy" in e] == []


def test_it_blocks_an_injected_inline_script(page, live_server):
    # The control: the policy really is enforced, so an injected script would not run.
    watched(page)
    page.goto(f"{live_server.url}{reverse('login')}")
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.__ran = 1";
                      document.body.appendChild(s); }""")
    assert page.evaluate("window.__ran") is None
    assert any(v.startswith("script-src") for v in page.evaluate("window.__violations"))


def test_it_logs_in_and_out_and_shows_the_admin_under_the_policy(page, live_server, django_user_model):
    django_user_model.objects.create_superuser(username="root", password="root-password-1")
    errors = watched(page)
    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('chat:page')}")
    page.goto(f"{live_server.url}{reverse('admin:chat_message_changelist')}")
    expect(page.locator("#content h1")).to_be_visible()
    page.goto(f"{live_server.url}{reverse('admin:auth_user_add')}")
    expect(page.locator("#user_form")).to_be_visible()
    assert page.evaluate("window.__violations") == []
    assert [e for e in errors if "Content Security Policy" in e] == []


HIDE = """() => {
  Object.defineProperty(document, "visibilityState", {get: () => "%s", configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_it_polls_without_eval_and_pauses_while_the_tab_is_hidden(page, live_server, agent, settings):
    from chat.models import Conversation
    from chat.services import conversation_get_or_create

    settings.CHAT_POLL_SECONDS = 1
    conversation = conversation_get_or_create(phone="+919876543210", name="Asha")
    errors = watched(page)
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "poll" in request.url else None)
    page.goto(f"{live_server.url}{reverse('login')}")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-password-1")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}{reverse('chat:conversation', args=[conversation.pk])}")
    with page.expect_request(lambda request: "poll" in request.url):
        pass  # visible: the thread polls
    page.evaluate(HIDE % "hidden")
    page.wait_for_timeout(300)  # a poll already on the wire may land
    polls.clear()
    page.wait_for_timeout(3500)  # three poll intervals
    assert polls == []
    with page.expect_request(lambda request: "poll" in request.url, timeout=3000):
        page.evaluate(HIDE % "visible")  # shown again: it polls at once
    assert page.evaluate("window.__violations") == []
    assert [e for e in errors if "htmx" in e or "Content Security Policy" in e] == []
    assert Conversation.objects.count() == 1
