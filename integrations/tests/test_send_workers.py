"""Through real Celery worker processes: the throughput cap across workers, and the whole loop with the webhook."""

import uuid
from collections import Counter

import pytest
from django.conf import settings
from django.urls import reverse

from chat.errors import describe_send_error
from chat.models import Message
from chat.services import conversation_mark_read, message_send_text
from simulator.server import Simulator
from simulator.tests.fixtures import worker_env
from tests.worker import run_celery_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def author(django_user_model):
    # Not the `agent` fixture: its group comes from a data migration, which an earlier flush may have emptied.
    return django_user_model.objects.create_user(username="sender", password="sender-password-1")


def succeeded(worker, task_name):
    """How many runs of the task the worker finished, from its log."""
    return sum(f"{task_name}[" in line and " succeeded in " in line for line in worker.log.splitlines())


def hook(simulator, live_server, **options):
    """Point the simulator's deliveries at the app's real, signed webhook."""
    simulator.configure(webhook_url=live_server.url + reverse("integrations:webhook"), **options)


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


def test_it_sends_and_follows_the_statuses_through_the_signed_webhook_until_read(
    whatsapp, conversation, author, live_server
):
    hook(whatsapp, live_server, status_mode="realistic", status_delay=0.3, seed=5)
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


def test_it_shows_a_failure_whatsapp_reports_later_through_the_webhook(whatsapp, conversation, author, live_server):
    hook(whatsapp, live_server, status_mode="ordered", status_delay=0.2)
    whatsapp.add_fault(code=131026, as_status=True)  # accepted now, "failed" in a status later
    with run_celery_worker(env=worker_env(whatsapp)):
        message = message_send_text(conversation=conversation, author=author, body="To an old phone")
        wait_for(lambda: Message.objects.get(pk=message.pk).status == Message.Status.FAILED, message="the failure")
    message.refresh_from_db()
    assert message.error_code == 131026
    assert message.whatsapp_message_id == whatsapp.state()["sends"][0]["wamid"]
    assert "not be on WhatsApp" in describe_send_error(message.error_code, message.error_title)


def test_it_sends_a_read_receipt_for_a_customers_message_staff_opened(whatsapp, conversation, author, live_server):
    hook(whatsapp, live_server)
    with run_celery_worker(env=worker_env(whatsapp)):
        wamid = whatsapp.inbound_message(sender=conversation.other_party, text="Is my order ready?")
        wait_for(lambda: Message.objects.filter(whatsapp_message_id=wamid).exists(), message="the inbound message")
        conversation.refresh_from_db()
        assert conversation.unread_count == 1
        conversation_mark_read(conversation=conversation, user=author)
        wait_for(lambda: whatsapp.state()["reads"], message="the read receipt")
    assert [read["message_id"] for read in whatsapp.state()["reads"]] == [wamid]
