"""Keep a copy of media that was sent by link, fetched through the safe fetcher."""

import logging
import posixpath
from urllib.parse import urlsplit

from django.core.files import File

from chat.media_rules import MediaRefused, check_media, max_bytes, mime_type_of
from chat.models import Message
from chat.services import message_media_copy_stored, message_media_failed
from integrations.fetch import FetchRefused, fetch

logger = logging.getLogger(__name__)


def message_keep_media_copy(*, message_id):
    """Download the message's data["link"] into its file field.

    Returns "stored", "skipped" (nothing to do) or "refused" (kept as media_state
    failed with the reason). Raises integrations.fetch.FetchFailed when a later
    try may work.
    """
    message = Message.objects.filter(pk=message_id).first()
    link = (message.data or {}).get("link") if message is not None else None
    if message is None or not link or message.file or message.message_type not in Message.MEDIA_TYPES:
        return "skipped"
    try:
        fetched = fetch(link, max_bytes=max_bytes(message.message_type))
    except FetchRefused as refused:
        logger.info("media copy refused for message %s: %s", message_id, refused)
        message_media_failed(message_id=message_id, reason=str(refused), conversation_id=message.conversation_id)
        return "refused"
    with fetched.file:
        name = message.file_name or posixpath.basename(urlsplit(fetched.url).path) or f"media-{message_id}"
        mime = mime_type_of(declared=fetched.content_type, file_name=name)
        head = fetched.file.read(32)
        fetched.file.seek(0)
        try:
            check_media(media_type=message.message_type, mime_type=mime, size=fetched.size, head=head)
        except MediaRefused as refused:
            message_media_failed(message_id=message_id, reason=str(refused), conversation_id=message.conversation_id)
            return "refused"
        message.file.save(name[:200], File(fetched.file, name=name[:200]), save=False)
    message_media_copy_stored(message=message, size=fetched.size, mime_type=message.mime_type or mime)
    logger.info("media copy stored for message %s (%s bytes)", message_id, fetched.size)
    return "stored"
