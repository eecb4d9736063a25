"""Filling a canned response for one conversation: its placeholders, in one pass.

{{contact_name}}  the customer's name as the inbox shows it (else the number)
{{agent_name}}    the staff member inserting it (full name, else username)
{{record}}        the linked record, as "Project #123": the composer's own (the entity view),
                  else the one most recently linked to a message of the conversation; else empty

Unknown placeholders stay as typed. The result is plain text: the page escapes it like any other.
"""

import re

from chat.templatetags.chat_tags import entity_label
from links.models import EntityLink

PLACEHOLDER = re.compile(r"\{\{\s*(contact_name|agent_name|record)\s*\}\}")


def record_for(*, conversation, entity=None):
    """(entity_type, entity_id) the conversation's messages are about, or None."""
    if entity is not None:
        return entity
    link = (
        EntityLink.objects.filter(message__conversation=conversation)
        .order_by("-id")
        .values_list("entity_type", "entity_id")
        .first()
    )
    return tuple(link) if link else None


def canned_fill(text, *, conversation, agent, record=None):
    """The canned text with its placeholders filled; each value is put in once, never filled again."""
    values = {
        "contact_name": conversation.display_name,
        "agent_name": agent.get_full_name() or agent.get_username(),
        "record": f"{entity_label(record[0])} #{record[1]}" if record else "",
    }
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
