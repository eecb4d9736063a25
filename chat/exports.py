"""A conversation exported: the CSV's columns and cells (the printable transcript is templates/chat/transcript_*.html).

Both read chat.selectors.messages.messages_for_export, so they hold one batch of messages at a time.
"""

import csv

from django.utils import timezone

from chat.models import Message
from chat.selectors.messages import messages_for_export

CSV_COLUMNS = ["id", "time", "direction", "from", "type", "text", "file_name", "status"]
# A spreadsheet runs a cell that starts like a formula (or a tab or carriage return before one); a leading
# apostrophe makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _author(conversation, message):
    if message.direction == Message.Direction.INBOUND:
        return conversation.display_name
    author = message.from_user
    return (author.get_full_name() or author.get_username()) if author else "Business"


def csv_row(conversation, message):
    return [
        csv_cell(value)
        for value in (
            message.pk,
            timezone.localtime(message.whatsapp_timestamp or message.created_at).isoformat(),
            message.direction,
            _author(conversation, message),
            message.message_type,
            message.message_body or message.caption,
            message.file_name,
            message.status,
        )
    ]


class _Line:
    """csv.writer's file: hands back each row it writes."""

    def write(self, text):
        return text


def csv_lines(*, conversation):
    """The conversation's CSV a line at a time: a byte-order mark (so spreadsheets read UTF-8), the header, the rows."""
    writer = csv.writer(_Line())
    yield "\ufeff"
    yield writer.writerow(CSV_COLUMNS)
    for message in messages_for_export(conversation=conversation):
        yield writer.writerow(csv_row(conversation, message))


def export_file_name(conversation, extension):
    return f"whatsapp-conversation-{conversation.pk}-{timezone.localtime():%Y-%m-%d}.{extension}"
