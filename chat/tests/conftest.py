"""Fixtures for the chat page's tests: conversations and messages as the other areas store them."""

import sys
import types

import pytest
from django.utils import timezone

from chat.models import Conversation, Message
from chat.services import conversation_apply_message


class QueuedCalls:
    """Records .delay() calls: stands in for a Celery task while integrations.tasks is not merged."""

    def __init__(self):
        self.calls = []

    def delay(self, *args):
        self.calls.append(args)


@pytest.fixture(autouse=True)
def outbound_tasks(monkeypatch):
    """integrations.tasks' outbound tasks, as chat.services imports them (lazily, inside on_commit).

    The outbound area provides the real tasks; until they are merged, tasks that
    record their calls keep sends and read receipts observable.
    """
    try:
        import integrations.tasks as module
    except ImportError:
        module = types.ModuleType("integrations.tasks")
        monkeypatch.setitem(sys.modules, "integrations.tasks", module)
    for name in ("message_send_task", "message_mark_read_task"):
        if not hasattr(module, name):
            monkeypatch.setattr(module, name, QueuedCalls(), raising=False)
    return module


def make_conversation(phone="+919876543210", name="Asha Patel", inbound_ago=None, **fields):
    conversation = Conversation.objects.create(other_party=phone, contact_name=name, **fields)
    if inbound_ago is not None:
        at = timezone.now() - inbound_ago
        Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=at)
        conversation.last_inbound_at = at
    return conversation


_counter = iter(range(1, 10**9))


def make_message(conversation, direction="inbound", *, apply=True, **fields):
    """A stored message, counted on its conversation the way chat.services does."""
    inbound = direction == Message.Direction.INBOUND
    fields.setdefault("message_body", "hello")
    fields.setdefault("status", Message.Status.RECEIVED if inbound else Message.Status.SENT)
    if inbound or fields["status"] not in (Message.Status.QUEUED, Message.Status.SENDING):
        fields.setdefault("whatsapp_message_id", f"wamid.TEST{next(_counter)}")
    message = Message.objects.create(
        conversation=conversation,
        direction=direction,
        from_phone=conversation.other_party if inbound else "",
        other_party=conversation.other_party,
        **fields,
    )
    if apply:
        conversation_apply_message(message=message)
    return message


def backdate(*rows, seconds=60):
    """Move updated_at into the past, so a poll's cursor is after every change."""
    at = timezone.now() - timezone.timedelta(seconds=seconds)
    for row in rows:
        type(row).objects.filter(pk=row.pk).update(updated_at=at)
        row.updated_at = at


@pytest.fixture
def chat(db):
    """Asha, who wrote an hour ago (the 24-hour window is open)."""
    return make_conversation(inbound_ago=timezone.timedelta(hours=1))
