"""Who may use the chat. Every view and API endpoint asks here, never on its own."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from chat.models import Conversation, Message

CHAT_PERMISSION = "chat.use_chat"


def can_use_chat(user):
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(CHAT_PERMISSION))


def require_chat_user(user):
    if not can_use_chat(user):
        raise PermissionDenied("You need the WhatsApp chat permission.")


def get_conversation_for_user(user, pk):
    require_chat_user(user)
    return get_object_or_404(Conversation, pk=pk)


def get_message_for_user(user, pk):
    require_chat_user(user)
    return get_object_or_404(Message.objects.select_related("conversation"), pk=pk)
