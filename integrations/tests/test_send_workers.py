"""Sends through real Celery worker processes: the throughput cap across workers, and the whole loop."""

import time
import uuid
from collections import Counter

import pytest
from django.conf import settings
from django.urls import NoReverseMatch, reverse

from chat.models import Message
from chat.services import message_send_text
from integrations.simulator import Simulator
from integrations.tests.conftest import worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"Timed out waiting for {what}")


def webhook_exists():
    try:
        reverse("integrations:webhook")
    except NoReverseMatch:
        return False
    return True


@pytest.fixture
def own_number():
    """A simulator for a business number of its own, so its throughput counter is this test's alone."""
    simulator = Simulator(port=0, status_mode="none", phone_number_id=str(uuid.uuid4().int)[:15]).start()
    yield simulator
    simulator.stop()


@pytest.mark.skipif(not settings.REDIS_URL, reason="The cap is shared through Redis; a file cache is not atomic")
def test_it_caps_throughput_per_number_across_two_worker_processes(own_number, conversation, agent, celery_worker):
    rate, total = 5, 30
    env = worker_env(own_number, WHATSAPP_SEND_RATE=rate)
    workers = [celery_worker(env=env, concurrency=2), celery_worker(env=env, concurrency=2)]
    messages = [message_send_text(conversation=conversation, author=agent, body=f"Burst {n}") for n in range(total)]
    wait_until(lambda: len(own_number.state()["sends"]) >= total, 90, f"{total} sends")
    per_second = Counter(int(send["at"]) for send in own_number.state()["sends"])
    assert max(per_second.values()) <= rate, sorted(per_second.items())
    assert len(per_second) >= total // rate
    wait_until(
        lambda: Message.objects.filter(pk__in=[m.pk for m in messages], status="sent").count() == total, 30, "saves"
    )
    assert all(worker.succeeded("integrations.tasks.message_send_task") for worker in workers), "both workers sent"
    assert len({send["body"]["text"]["body"] for send in own_number.state()["sends"]}) == total  # each once


@pytest.mark.skipif(
    not webhook_exists(), reason="The webhook (integrations:webhook) is built in the inbound branch; runs once merged"
)
def test_it_sends_and_follows_the_statuses_through_the_signed_webhook_until_read(
    whatsapp, conversation, agent, celery_worker, live_server
):
    whatsapp.configure(
        webhook_url=live_server.url + reverse("integrations:webhook"),
        status_mode="realistic",
        status_delay=0.3,
        seed=5,
    )
    celery_worker(env=worker_env(whatsapp), concurrency=2)
    message = message_send_text(conversation=conversation, author=agent, body="Your order has shipped")

    def status():
        return Message.objects.get(pk=message.pk).status

    wait_until(lambda: status() == Message.Status.READ, 60, "the read status")
    message.refresh_from_db()
    (send,) = whatsapp.state()["sends"]
    assert message.whatsapp_message_id == send["wamid"]
    assert message.sent_at is not None
    assert message.seen_at is not None
    assert all(delivery["status_code"] == 200 for delivery in whatsapp.state()["deliveries"])
