"""Sends through real Celery worker processes: the throughput cap across workers, and the whole loop."""

import uuid
from collections import Counter

import pytest
from django.conf import settings
from django.urls import NoReverseMatch, reverse

from chat.models import Message
from chat.services import message_send_text
from integrations.simulator import Simulator
from integrations.tests.simulator_fixtures import worker_env
from tests.worker import run_celery_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def author(django_user_model):
    # Not the `agent` fixture: its group comes from a data migration, which an earlier flush may have emptied.
    return django_user_model.objects.create_user(username="sender", password="sender-password-1")


def succeeded(worker, task_name):
    """How many runs of the task the worker finished, from its log."""
    return sum(f"{task_name}[" in line and " succeeded in " in line for line in worker.log.splitlines())


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
def test_it_caps_throughput_per_number_across_two_worker_processes(own_number, conversation, author):
    rate, total = 5, 30
    env = worker_env(own_number, WHATSAPP_SEND_RATE=rate)
    with run_celery_worker(env=env) as first, run_celery_worker(env=env) as second:
        messages = [message_send_text(conversation=conversation, author=author, body=f"Burst {n}") for n in range(30)]
        wait_for(lambda: len(own_number.state()["sends"]) >= total, timeout=90, message=f"{total} sends")
        ids = [m.pk for m in messages]
        wait_for(lambda: Message.objects.filter(pk__in=ids, status="sent").count() == total, message="the saves")
        task = "integrations.tasks.message_send_task"
        assert succeeded(first, task), "the first worker sent"
        assert succeeded(second, task), "the second worker sent"
    per_second = Counter(int(send["at"]) for send in own_number.state()["sends"])
    assert max(per_second.values()) <= rate, sorted(per_second.items())
    assert len(per_second) >= total // rate
    assert len({send["body"]["text"]["body"] for send in own_number.state()["sends"]}) == total  # each once


@pytest.mark.skipif(
    not webhook_exists(), reason="The webhook (integrations:webhook) is built in the inbound branch; runs once merged"
)
def test_it_sends_and_follows_the_statuses_through_the_signed_webhook_until_read(
    whatsapp, conversation, author, live_server
):
    whatsapp.configure(
        webhook_url=live_server.url + reverse("integrations:webhook"),
        status_mode="realistic",
        status_delay=0.3,
        seed=5,
    )
    with run_celery_worker(env=worker_env(whatsapp)):
        message = message_send_text(conversation=conversation, author=author, body="Your order has shipped")

        def status():
            return Message.objects.get(pk=message.pk).status

        wait_for(lambda: status() == Message.Status.READ, message="the read status")
    message.refresh_from_db()
    (send,) = whatsapp.state()["sends"]
    assert message.whatsapp_message_id == send["wamid"]
    assert message.sent_at is not None
    assert message.seen_at is not None
    assert all(delivery["status_code"] == 200 for delivery in whatsapp.state()["deliveries"])
