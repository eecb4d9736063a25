from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat import changes
from chat.models import Message
from links.models import EntityLink


class InvalidEntity(ValueError):
    pass


def check_entity(entity_type, entity_id):
    """Return (entity_type, entity_id) cleaned, or raise InvalidEntity with a sentence."""
    entity_type = (entity_type or "").strip()
    entity_id = str(entity_id if entity_id is not None else "").strip()
    if entity_type not in settings.ENTITY_TYPES:
        allowed = ", ".join(settings.ENTITY_TYPES)
        raise InvalidEntity(f"Unknown entity type '{entity_type[:40]}'. Use one of: {allowed}.")
    if not entity_id:
        raise InvalidEntity("Enter the id of the record to link to.")
    if len(entity_id) > 64:
        raise InvalidEntity("An entity id has at most 64 characters.")
    return entity_type, entity_id


def entity_link_create(*, message, entity_type, entity_id, user=None):
    """Link a message to an ERP record; linking twice returns the existing link."""
    entity_type, entity_id = check_entity(entity_type, entity_id)
    existing = EntityLink.objects.filter(message=message, entity_type=entity_type, entity_id=entity_id).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            link = EntityLink.objects.create(
                message=message, entity_type=entity_type, entity_id=entity_id, created_by=user
            )
    except IntegrityError:
        return EntityLink.objects.get(message=message, entity_type=entity_type, entity_id=entity_id)
    # The open conversation's poll shows the new link on the bubble.
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now())
    changes.conversations_touched([message.conversation_id])
    return link


def entity_link_delete(*, message, entity_type, entity_id):
    """Unlink; returns whether there was a link to remove."""
    entity_type, entity_id = check_entity(entity_type, entity_id)
    deleted, _ = EntityLink.objects.filter(message=message, entity_type=entity_type, entity_id=entity_id).delete()
    if deleted:
        Message.objects.filter(pk=message.pk).update(updated_at=timezone.now())
        changes.conversations_touched([message.conversation_id])
    return bool(deleted)
