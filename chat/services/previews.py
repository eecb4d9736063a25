"""The sidebar's one-line summary of a message."""

from chat.models import Message

PREVIEW_LENGTH = 120
PREVIEW_LABELS = {
    Message.Type.IMAGE: "📷 Photo",
    Message.Type.VIDEO: "🎥 Video",
    Message.Type.AUDIO: "🎵 Audio",
    Message.Type.DOCUMENT: "📄 Document",
    Message.Type.STICKER: "Sticker",
    Message.Type.LOCATION: "📍 Location",
    Message.Type.CONTACTS: "👤 Contact",
    Message.Type.TEMPLATE: "Template",
    Message.Type.UNSUPPORTED: "Unsupported message",
}


def message_preview(message):
    """The sidebar's one-line summary of a message."""
    text = (message.message_body or message.caption or "").strip()
    label = PREVIEW_LABELS.get(message.message_type)
    if message.message_type == Message.Type.REACTION:
        text = f"Reacted {message.message_body}".strip()
    elif label and text and message.message_type != Message.Type.TEMPLATE:
        text = f"{label}: {text}"
    elif label and not text:
        text = label
    text = " ".join(text.split())
    if len(text) > PREVIEW_LENGTH:
        text = text[: PREVIEW_LENGTH - 1] + "…"
    return text
