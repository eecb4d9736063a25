"""What WhatsApp accepts as media, once: per type the MIME types, the largest size and the sentence a person reads.

Everything that checks a file reads this table: the page's composer form (chat.forms),
the API's send-media (chat.api), the copy of media sent by link (integrations.media_copy),
the inbound download (max_bytes), and the composer's `accept=` and JavaScript, which get
it rendered into the page (browser_rules, with json_script).

The types, MIME types and sizes are the Cloud API's documented ones: image 5 MB (JPEG,
PNG); video 16 MB (MP4, 3GPP); audio 16 MB (AAC, AMR, MP3, M4A, OGG); document 100 MB
(PDF, plain text and the Microsoft Office formats); sticker WebP, 100 KB static and
500 KB animated. A sticker is animated when its VP8X header sets the animation flag.
"""

import mimetypes
from dataclasses import dataclass

KB, MB = 1024, 1024 * 1024
CAPTION_MAX = 1024
# The largest request body send-media accepts: the largest file plus room for the form.
LARGEST_UPLOAD = 100 * MB + 64 * KB


@dataclass(frozen=True)
class MediaRule:
    media_type: str
    noun: str  # "a photo": what the person calls a file of this type
    mime_types: dict  # MIME type -> the file name extensions a browser may show instead
    max_bytes: int
    sentence: str
    static_max_bytes: int | None = None  # stickers: the limit without the animation flag
    takes_caption: bool = True


RULES = (
    MediaRule(
        "image",
        "a photo",
        {"image/jpeg": [".jpg", ".jpeg"], "image/png": [".png"]},
        5 * MB,
        "Photos must be JPEG or PNG, at most 5 MB.",
    ),
    MediaRule(
        "video",
        "a video",
        {"video/mp4": [".mp4"], "video/3gpp": [".3gp"]},
        16 * MB,
        "Videos must be MP4 or 3GPP, at most 16 MB.",
    ),
    MediaRule(
        "audio",
        "audio",
        {
            "audio/aac": [".aac"],
            "audio/amr": [".amr"],
            "audio/mpeg": [".mp3"],
            "audio/mp4": [".m4a"],
            "audio/ogg": [".ogg", ".opus"],
        },
        16 * MB,
        "Audio must be AAC, AMR, MP3, M4A or OGG, at most 16 MB.",
        takes_caption=False,
    ),
    MediaRule(
        "sticker",
        "a sticker",
        {"image/webp": [".webp"]},
        500 * KB,
        "Stickers must be WebP, at most 100 KB (500 KB when animated).",
        static_max_bytes=100 * KB,
        takes_caption=False,
    ),
    MediaRule(
        "document",
        "a document",
        {
            "application/pdf": [".pdf"],
            "text/plain": [".txt"],
            "application/msword": [".doc"],
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document": [".docx"],
            "application/vnd.ms-excel": [".xls"],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": [".xlsx"],
            "application/vnd.ms-powerpoint": [".ppt"],
            "application/vnd.openxmlformats-officedocument.presentationml.presentation": [".pptx"],
        },
        100 * MB,
        "Documents must be PDF, text, Word, Excel or PowerPoint files, at most 100 MB.",
    ),
)
RULES_BY_TYPE = {rule.media_type: rule for rule in RULES}
MEDIA_TYPES = tuple(RULES_BY_TYPE)
TYPE_OF_MIME = {mime: rule.media_type for rule in RULES for mime in rule.mime_types}
# The words of every refusal; the composer's JavaScript gets them with the table.
WORDS = {
    "wrong_type": "WhatsApp cannot send files of type {mime} as {noun}.",
    "too_large": "This file is too large.",
    "empty": "This file is empty.",
    "caption_long": f"A caption has at most {CAPTION_MAX} characters.",
    "no_caption": "WhatsApp sends audio and stickers without a caption.",
}


class MediaRefused(ValueError):
    """str() is a sentence for the person sending; `field` is the input at fault."""

    def __init__(self, reason, *, field="file"):
        super().__init__(reason)
        self.reason = reason
        self.field = field


def max_bytes(media_type):
    """The largest file of this type WhatsApp takes (for a sticker, an animated one)."""
    return RULES_BY_TYPE[media_type].max_bytes


def extension_for(mime_type):
    """The file name extension for a MIME type: the table's first, else the system's guess, else ""."""
    mime = (mime_type or "").split(";", 1)[0].strip().lower()
    rule = RULES_BY_TYPE.get(TYPE_OF_MIME.get(mime, ""))
    if rule is not None:
        return rule.mime_types[mime][0]
    return mimetypes.guess_extension(mime) or ""


def mime_type_of(*, declared, file_name):
    """The file's MIME type without parameters: the one declared, else the file name's, else octet-stream."""
    mime = (declared or "").split(";", 1)[0].strip().lower()
    if not mime or mime == "application/octet-stream":
        guessed, _ = mimetypes.guess_type(file_name or "")
        mime = (guessed or "").lower() or mime or "application/octet-stream"
    return mime


def media_type_for(mime_type):
    """The media type a file of this MIME type is sent as; a MIME type WhatsApp does not take is
    judged by the type it looks like (image/gif as a photo), so the refusal names what is accepted."""
    if mime_type in TYPE_OF_MIME:
        return TYPE_OF_MIME[mime_type]
    major = mime_type.split("/", 1)[0]
    return major if major in ("image", "video", "audio") else "document"


def is_animated_webp(head):
    """A WebP whose VP8X chunk (bytes 12..15) sets the animation flag (0x02 of byte 20)."""
    return (
        len(head) > 20
        and head[:4] == b"RIFF"
        and head[8:12] == b"WEBP"
        and head[12:16] == b"VP8X"
        and bool(head[20] & 0x02)
    )


def check_media(*, media_type, mime_type, size, head=b""):
    """Raise MediaRefused when WhatsApp would refuse this file as `media_type`; `head` is its first bytes."""
    rule = RULES_BY_TYPE[media_type]
    if mime_type not in rule.mime_types:
        wrong = WORDS["wrong_type"].format(mime=mime_type[:60], noun=rule.noun)
        raise MediaRefused(f"{wrong} {rule.sentence}")
    if size == 0:
        raise MediaRefused(WORDS["empty"])
    limit = rule.max_bytes
    if rule.static_max_bytes is not None and not is_animated_webp(head):
        limit = rule.static_max_bytes
    if size > limit:
        raise MediaRefused(f"{WORDS['too_large']} {rule.sentence}")


def check_caption(*, media_type, caption):
    if len(caption) > CAPTION_MAX:
        raise MediaRefused(WORDS["caption_long"], field="caption")
    if caption and not RULES_BY_TYPE[media_type].takes_caption:
        raise MediaRefused(WORDS["no_caption"], field="caption")


def check_upload(upload, *, media_type=None, file_name=None, caption=""):
    """(media type, MIME type) of an uploaded file WhatsApp takes with this caption, else MediaRefused.

    Without `media_type` (the composer) the type is the one the file's MIME type belongs to.
    """
    mime = mime_type_of(declared=getattr(upload, "content_type", ""), file_name=file_name or upload.name)
    media_type = media_type or media_type_for(mime)
    upload.seek(0)
    head = upload.read(32)
    upload.seek(0)
    check_media(media_type=media_type, mime_type=mime, size=upload.size, head=head)
    check_caption(media_type=media_type, caption=caption)
    return media_type, mime


def accept_attribute():
    """The composer's file input `accept=`: every MIME type, and the extensions for browsers that lack them."""
    return ",".join([*TYPE_OF_MIME, *(ext for rule in RULES for exts in rule.mime_types.values() for ext in exts)])


def browser_rules():
    """The table and its words as the composer's JavaScript reads them (rendered with json_script)."""
    return {
        "rules": [
            {
                "type": rule.media_type,
                "noun": rule.noun,
                "mimes": list(rule.mime_types),
                "max": rule.max_bytes,
                "message": rule.sentence,
            }
            for rule in RULES
        ],
        "extensions": {ext: mime for rule in RULES for mime, exts in rule.mime_types.items() for ext in exts},
        "words": WORDS,
    }
