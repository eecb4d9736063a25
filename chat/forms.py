"""What the composer may send: WhatsApp's media types and size limits, and the forms that check them.

The same limits are handed to the page (data-limits on the composer), so the
browser refuses a file before uploading it; the server checks again here.
"""

import mimetypes

from django import forms
from django.conf import settings

from chat.message_templates import body_text, template_slots
from chat.models import MessageTemplate

KB, MB = 1024, 1024 * 1024
BODY_MAX = 4096
CAPTION_MAX = 1024

# (message type, accepted MIME types, largest size in bytes, what the person is told)
MEDIA_RULES = [
    ("image", ["image/jpeg", "image/png"], 5 * MB, "Photos must be JPEG or PNG, at most 5 MB."),
    ("video", ["video/mp4", "video/3gpp"], 16 * MB, "Videos must be MP4 or 3GPP, at most 16 MB."),
    (
        "audio",
        ["audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"],
        16 * MB,
        "Audio must be AAC, AMR, MP3, M4A or OGG, at most 16 MB.",
    ),
    ("sticker", ["image/webp"], 500 * KB, "Stickers must be WebP, at most 100 KB (500 KB when animated)."),
    (
        "document",
        [
            "application/pdf",
            "text/plain",
            "text/csv",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.oasis.opendocument.text",
            "application/vnd.oasis.opendocument.spreadsheet",
            "application/zip",
        ],
        100 * MB,
        "Documents must be PDF, text or office files, at most 100 MB.",
    ),
]
STATIC_STICKER_MAX = 100 * KB
RULES_BY_TYPE = {rule[0]: rule for rule in MEDIA_RULES}


def media_limits():
    """The limits as the composer's JavaScript reads them (data-limits)."""
    return [{"type": t, "mimes": mimes, "max": size, "message": text} for t, mimes, size, text in MEDIA_RULES]


def upload_mime(upload):
    mime = (getattr(upload, "content_type", "") or "").split(";")[0].strip().lower()
    if not mime or mime == "application/octet-stream":
        mime = (mimetypes.guess_type(upload.name or "")[0] or "").lower()
    return mime


def _is_animated_webp(upload):
    upload.seek(0)
    head = upload.read(64 * KB)
    upload.seek(0)
    return b"ANIM" in head


def check_upload(upload):
    """(message type, MIME type) for an uploaded file, or a ValidationError saying what WhatsApp accepts."""
    mime = upload_mime(upload)
    for message_type, mimes, largest, text in MEDIA_RULES:
        if mime not in mimes:
            continue
        if message_type == "sticker" and upload.size > STATIC_STICKER_MAX and not _is_animated_webp(upload):
            raise forms.ValidationError(f"This sticker is too large. {text}")
        if upload.size > largest:
            raise forms.ValidationError(f"This file is too large. {text}")
        if upload.size == 0:
            raise forms.ValidationError("This file is empty.")
        return message_type, mime
    shown = mime or "unknown"
    raise forms.ValidationError(
        f"WhatsApp cannot send files of type {shown[:60]}. Send photos (JPEG, PNG), videos (MP4), "
        "audio, WebP stickers or PDF and office documents."
    )


class EntityFields(forms.Form):
    link_type = forms.ChoiceField(required=False, choices=())
    link_id = forms.CharField(required=False, max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["link_type"].choices = [("", "—")] + [(t, t.replace("_", " ")) for t in settings.ENTITY_TYPES]

    def clean(self):
        data = super().clean()
        link_type, link_id = data.get("link_type"), (data.get("link_id") or "").strip()
        if bool(link_type) != bool(link_id):
            raise forms.ValidationError("To link the message, choose a record type and enter its id.")
        data["entity"] = (link_type, link_id) if link_type else None
        return data


class SendForm(EntityFields):
    body = forms.CharField(required=False, max_length=BODY_MAX, strip=False)
    file = forms.FileField(required=False)
    idempotency_key = forms.CharField(required=False, max_length=128)

    def clean(self):
        data = super().clean()
        body, upload = (data.get("body") or "").replace("\r\n", "\n").strip(), data.get("file")
        if upload is not None:
            data["message_type"], data["mime_type"] = check_upload(upload)
            if len(body) > CAPTION_MAX:
                raise forms.ValidationError(f"A caption has at most {CAPTION_MAX} characters.")
            if data["message_type"] in ("audio", "sticker") and body:
                raise forms.ValidationError("WhatsApp sends audio and stickers without a caption.")
        elif not body:
            raise forms.ValidationError("Type a message or attach a file.")
        data["body"] = body
        return data


def template_body(template):
    return body_text(template.components)


def template_parameters(template):
    """The body's placeholders in order of first appearance: ["1", "2"] or named ones."""
    for kind, _, names in template_slots(template.components):
        if kind == "body":
            return names
    return []


class TemplateSendForm(EntityFields):
    template = forms.ModelChoiceField(queryset=MessageTemplate.objects.filter(status="APPROVED"))
    idempotency_key = forms.CharField(required=False, max_length=128)

    def clean(self):
        data = super().clean()
        template = data.get("template")
        if template is None:
            return data
        values = {}
        for name in template_parameters(template):
            value = (self.data.get(f"param_{name}") or "").strip()
            if not value:
                raise forms.ValidationError(f"Fill in the template's parameter {{{{{name}}}}}.")
            values[name] = value[:1024]
        data["values"] = values
        return data


class LinkForm(forms.Form):
    entity_type = forms.ChoiceField(choices=())
    entity_id = forms.CharField(max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity_type"].choices = [(t, t.replace("_", " ")) for t in settings.ENTITY_TYPES]
