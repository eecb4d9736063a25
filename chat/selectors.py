"""Reads for the chat page and the API. Each selector picks its own joins."""

from chat.models import Conversation


def conversation_list(*, limit=50):
    # Uses conversation_activity_idx; no aggregation over messages.
    return list(Conversation.objects.order_by("-last_message_at", "-id")[:limit])
