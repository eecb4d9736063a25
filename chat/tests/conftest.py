"""Fixtures for the chat page's tests: conversations and messages as the other areas store them."""

from pathlib import Path

import pytest
from django.utils import timezone

from chat.changes import messages_mark_back
from chat.models import Conversation, Message
from chat.services import conversation_apply_message


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
        from_phone=(conversation.other_party or "") if inbound else "",
        other_party=conversation.other_party or "",
        **fields,
    )
    if apply:
        conversation_apply_message(message=message)
    return message


def backdate(*rows, seconds=60):
    """Move updated_at into the past, so a poll's cursor is after every change.

    The conversations (and those of the messages) get their change marks (chat.changes) moved back with them.
    """
    at = timezone.now() - timezone.timedelta(seconds=seconds)
    for row in rows:
        type(row).objects.filter(pk=row.pk).update(updated_at=at)
        row.updated_at = at
    messages_mark_back({row.pk if isinstance(row, Conversation) else row.conversation_id for row in rows}, at)


@pytest.fixture
def chat(db):
    """Asha, who wrote an hour ago (the 24-hour window is open)."""
    return make_conversation(inbound_ago=timezone.timedelta(hours=1))


# --- Browser tests (Playwright driving Debian's Chromium; never a downloaded browser) ---

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def shots(pytestconfig):
    folder = Path(pytestconfig.getoption("--output")) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
