"""The whole loop in a real browser: a live server, a real Celery worker and the Cloud API simulator.

The customer writes through the simulator, Meta-style deliveries reach the signed webhook, the
worker processes them and sends our replies to the simulator, whose statuses come back through
the webhook; the page shows each step through its polls, with no reload.
"""

import pytest
from django.urls import reverse

from chat.models import Conversation, Message
from chat.tests.test_page_browser import expect, log_in, open_chat
from simulator.tests.fixtures import worker_env
from tests.worker import run_celery_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CUSTOMER = "919876543210"
STEP = 15_000  # ms: a deadline per step (webhook, worker, a 3-second poll), not a timing assertion


@pytest.fixture
def loop(whatsapp, live_server):
    """The simulator delivering to the live server's webhook, one status every 4 s, and a worker."""
    whatsapp.configure(
        webhook_url=live_server.url + reverse("integrations:webhook"), status_mode="ordered", status_delay=4
    )
    with run_celery_worker(env=worker_env(whatsapp)) as worker:
        yield worker


def test_a_customer_writes_staff_answer_and_the_ticks_follow_whatsapp(page, live_server, agent, whatsapp, loop, shots):
    log_in(page, live_server, agent)
    whatsapp.inbound_message(sender=CUSTOMER, text="Is my order *ready*?", name="Asha Patel")

    row = page.locator(".conversation-row", has_text="Asha Patel")
    expect(row.locator(".badge")).to_have_text("1", timeout=STEP)
    open_chat(page, "Asha Patel")
    expect(row.locator(".badge")).to_have_count(0)
    expect(page.locator(".msg-inbound strong")).to_have_text("ready")
    # Opening the conversation sent WhatsApp a read receipt for the customer's message.
    inbound = Message.objects.get(direction="inbound")
    wait_for(lambda: inbound.whatsapp_message_id in str(whatsapp.state()["reads"]), message="the read receipt")

    page.evaluate("window.__marker = 'no reload'")
    box = page.locator(".composer-text")
    box.fill("Yes, it leaves today.")
    box.press("Enter")
    bubble = page.locator(".msg-outbound", has_text="it leaves today")
    for status in ("sent", "delivered", "read"):
        expect(bubble.locator(".ticks")).to_have_attribute("data-status", status, timeout=STEP)
    expect(bubble.locator(".ticks-read")).to_have_css("color", "rgb(83, 189, 235)")
    page.screenshot(path=shots / "full-loop-read.png")

    # WhatsApp refuses the next send: the reason shows, and Retry sends it once more.
    whatsapp.add_fault(code=131026, to="+" + CUSTOMER, times=1)
    box.fill("Here is the tracking link.")
    box.press("Enter")
    failed = page.locator(".msg-outbound.msg-failed", has_text="tracking link")
    expect(failed.locator(".failure-reason")).to_contain_text("not be on WhatsApp", timeout=STEP)
    failed.locator("button.retry").click()
    expect(failed.locator(".retried")).to_have_text("Sent again", timeout=STEP)
    retry = Message.objects.get(retry_of__isnull=False)
    wait_for(lambda: Message.objects.get(pk=retry.pk).status == "read", message="the retried message read")
    assert page.evaluate("window.__marker") == "no reload"

    sent_bodies = [send["body"].get("text", {}).get("body") for send in whatsapp.state()["sends"]]
    assert sent_bodies.count("Yes, it leaves today.") == 1  # sends happen once
    assert sent_bodies.count("Here is the tracking link.") == 1  # refused (not accepted), then the retry
    assert Message.objects.get(pk=retry.retry_of_id).error_code == 131026
    assert Conversation.objects.get().unread_count == 0
