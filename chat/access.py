"""Who may use the chat. Every view and API endpoint asks here, never on its own.

The answer to "may this user use the chat?" is kept in the cache for
CHAT_PERMISSION_CACHE_SECONDS, so the 3-second polls do not ask the database for
the user's groups and permissions every time. Changes made through Django (the
admin, the ORM: a user's groups or permissions, a group's permissions, a deleted
group, a saved user) forget the affected answers at once; anything else, such as
SQL typed into the database, takes effect within that many seconds. A lost
cache only means asking the database again. is_active is read from the user row
on every request, so deactivating someone always applies at once; the one
exception is an idle poll's "nothing changed" (chat.poll_pass), which shows no
data and is answered for at most the same number of seconds.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_save, pre_delete
from django.dispatch import receiver
from django.shortcuts import get_object_or_404

from chat.models import Conversation, Message
from chat.selectors.conversations import conversation_by_ref

CHAT_PERMISSION = "chat.use_chat"

logger = logging.getLogger(__name__)


def _permission_key(user_id):
    return f"chat:may-chat:{user_id}"


def _has_chat_permission(user):
    """user.has_perm(CHAT_PERMISSION) through the cache; remembered on the user for the rest of the request."""
    if hasattr(user, "_may_chat"):
        return user._may_chat
    key = _permission_key(user.pk)
    # The join date tells apart two users who had the same pk (one deleted, one created).
    joined = getattr(user, "date_joined", None)
    stamp = joined.isoformat() if joined else ""
    try:
        cached = cache.get(key)
    except Exception:  # the cache is down: ask the database, as without it
        logger.warning("Cache unavailable for the chat permission", exc_info=True)
        cached = key = None
    if cached is not None and cached[0] == stamp:
        allowed = cached[1]
    else:
        allowed = user.has_perm(CHAT_PERMISSION)
        if key is not None:
            cache.set(key, (stamp, allowed), settings.CHAT_PERMISSION_CACHE_SECONDS)
    user._may_chat = allowed
    return allowed


def forget_chat_permission(user_ids):
    """Drop cached answers, so the next request of these users asks the database.

    Once now and once after commit: a request between the two could have cached
    what the database said before the change was committed.
    """
    keys = [_permission_key(user_id) for user_id in user_ids]
    if keys:
        _forget(keys)
        transaction.on_commit(lambda: _forget(keys))


def _forget(keys):
    try:
        cache.delete_many(keys)
    except Exception:  # a group change must not fail for the cache; the answers expire on their own
        logger.warning("Could not forget cached chat permissions", exc_info=True)


def can_use_chat(user):
    return bool(user and user.is_authenticated and user.is_active and _has_chat_permission(user))


def require_chat_user(user):
    if not can_use_chat(user):
        raise PermissionDenied("You need the WhatsApp chat permission.")


def sees_every_conversation(user):
    """A shared inbox (the default), or a user allowed to see all when agents see only their own."""
    return not settings.CHAT_AGENTS_SEE_OWN_ONLY or user.has_perm("chat.see_all_conversations")


def visible_conversations(user):
    """Q over Conversation for what this user may see: all, or their own and unassigned ones."""
    if sees_every_conversation(user):
        return Q()
    return Q(assignee=user) | Q(assignee=None)


def get_conversation_for_user(user, pk):
    require_chat_user(user)
    rows = Conversation.objects.select_related("assignee", "team").filter(visible_conversations(user))
    return get_object_or_404(rows, pk=pk)


def find_conversation_for_user(user, ref):
    """The API's lookup by id, phone or WhatsApp user id (selectors.conversations.conversation_ref).

    Returns (what `ref` was read as, the conversation or None); a conversation this user may not
    see is None, exactly like one that does not exist.
    """
    require_chat_user(user)
    return conversation_by_ref(ref, visible=visible_conversations(user))


def get_message_for_user(user, pk):
    require_chat_user(user)
    messages = Message.objects.select_related("conversation")
    if not sees_every_conversation(user):
        messages = messages.filter(Q(conversation__assignee=user) | Q(conversation__assignee=None))
    return get_object_or_404(messages, pk=pk)


# --- Forgetting cached answers when groups or permissions change -------------------------


def _members(groups):
    return list(get_user_model().objects.filter(groups__in=groups).values_list("pk", flat=True).distinct())


@receiver(m2m_changed, sender=get_user_model().groups.through)
@receiver(m2m_changed, sender=get_user_model().user_permissions.through)
def _user_groups_or_permissions_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if not action.startswith("post_") and action != "pre_clear":
        return
    if not reverse:  # user.groups.add(...), user.user_permissions.remove(...)
        forget_chat_permission([instance.pk])
    elif action == "pre_clear":  # group.user_set.clear(): pk_set is None, read the members first
        forget_chat_permission(list(instance.user_set.values_list("pk", flat=True)))
    elif pk_set:  # group.user_set.add(...), permission.user_set.remove(...)
        forget_chat_permission(pk_set)


@receiver(m2m_changed, sender=Group.permissions.through)
def _group_permissions_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if not action.startswith("post_") and action != "pre_clear":
        return
    if not reverse:  # group.permissions.add(...)
        forget_chat_permission(_members([instance.pk]))
    elif action == "pre_clear" or pk_set:  # permission.group_set.remove(...)
        groups = instance.group_set.values_list("pk", flat=True) if action == "pre_clear" else pk_set
        forget_chat_permission(_members(list(groups)))


@receiver(pre_delete, sender=Group)
def _group_deleted(sender, instance, **kwargs):
    forget_chat_permission(_members([instance.pk]))


@receiver(post_save, sender=get_user_model())
def _user_saved(sender, instance, **kwargs):
    # is_superuser and is_active live on the row; a save may have changed either.
    forget_chat_permission([instance.pk])
