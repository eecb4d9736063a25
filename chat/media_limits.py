"""What WhatsApp accepts as media: types and sizes (Cloud API limits)."""

import mimetypes

MB = 1024 * 1024
KB = 1024

# media type -> (largest size in bytes, accepted MIME types; None means any common document)
MEDIA_RULES = {
    "image": (5 * MB, {"image/jpeg", "image/png"}),
    "video": (16 * MB, {"video/mp4", "video/3gpp"}),
    "audio": (16 * MB, {"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
    "document": (100 * MB, None),
    # 100 KB static, 500 KB animated.
    "sticker": (500 * KB, {"image/webp"}),
}
STATIC_STICKER_MAX = 100 * KB
# The largest request body send-media accepts: the largest file plus room for the form.
LARGEST_UPLOAD = 100 * MB + 64 * KB


class MediaRefused(ValueError):
    """str() is a sentence for the person sending."""


def max_bytes(media_type):
    return MEDIA_RULES[media_type][0]


def human_size(size):
    return f"{size // MB} MB" if size >= MB else f"{size // KB} KB"


def mime_type_of(*, declared, file_name):
    """The upload's MIME type without parameters, from the client or the file name."""
    mime = (declared or "").split(";", 1)[0].strip().lower()
    if not mime or mime == "application/octet-stream":
        guessed, _ = mimetypes.guess_type(file_name or "")
        mime = guessed or mime or "application/octet-stream"
    return mime


def is_animated_webp(head):
    """A WebP with the VP8X animation flag set (bytes 12..15 'VP8X', flag bit 0x02 at byte 20)."""
    return (
        len(head) > 20
        and head[:4] == b"RIFF"
        and head[8:12] == b"WEBP"
        and head[12:16] == b"VP8X"
        and bool(head[20] & 0x02)
    )


def check_media(*, media_type, mime_type, size, head=b""):
    """Raise MediaRefused when WhatsApp would refuse this file."""
    limit, accepted = MEDIA_RULES[media_type]
    if accepted is not None and mime_type not in accepted:
        allowed = ", ".join(sorted(accepted))
        raise MediaRefused(f"A {media_type} must be one of {allowed}, not {mime_type[:60]}.")
    if media_type == "sticker" and not is_animated_webp(head):
        limit = STATIC_STICKER_MAX
    if size > limit:
        raise MediaRefused(f"A {media_type} can be at most {human_size(limit)}; this file is {human_size(size)}.")
    if size == 0:
        raise MediaRefused("The file is empty.")
