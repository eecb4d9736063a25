"""The composer's forms: what a staff member may send from the chat page.

Files are judged by chat.media_rules, the same table the API and the composer's
JavaScript read.
"""

from django import forms
from django.conf import settings

from chat.media_rules import MediaRefused, check_upload
from chat.message_templates import template_fields
from chat.models import MessageTemplate

BODY_MAX = 4096


def body_too_long(length):
    return f"A message has at most {BODY_MAX:,} characters; this one has {length:,}."


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
    # No max_length here: a longer body is refused in clean() with its length, not dropped as missing.
    body = forms.CharField(required=False, strip=False)
    file = forms.FileField(required=False, allow_empty_file=True)  # chat.media_rules says why it is refused
    idempotency_key = forms.CharField(required=False, max_length=128)

    def clean(self):
        data = super().clean()
        body, upload = (data.get("body") or "").replace("\r\n", "\n").strip(), data.get("file")
        if upload is None and len(body) > BODY_MAX:
            raise forms.ValidationError(body_too_long(len(body)))
        if upload is not None:
            try:
                data["message_type"], data["mime_type"] = check_upload(upload, caption=body)
            except MediaRefused as refused:
                raise forms.ValidationError(refused.reason) from None
        elif not body:
            raise forms.ValidationError("Type a message or attach a file.")
        data["body"] = body
        return data


RICH_KINDS = ("location", "contact", "buttons", "list")


class RichSendForm(EntityFields):
    """A location, contact card, reply buttons or a list from the attach menu (its fields: chat.rich_messages)."""

    kind = forms.ChoiceField(choices=[(kind, kind) for kind in RICH_KINDS])
    idempotency_key = forms.CharField(required=False, max_length=128)


class TemplateSendForm(EntityFields):
    """A template and every parameter it takes (chat.message_templates.template_fields), by the inputs' names."""

    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.filter(status="APPROVED"),
        error_messages={"invalid_choice": "Choose one of the approved templates."},
    )
    header_file = forms.FileField(required=False, allow_empty_file=True)
    idempotency_key = forms.CharField(required=False, max_length=128)

    def clean(self):
        data = super().clean()
        template = data.get("template")
        if template is None:
            return data
        parameters, missing = [], []
        fields = template_fields(template.components)
        if not any(field.media for field in fields):
            data["header_file"] = None  # only a media header takes a file
        for field in fields:
            value = (self.data.get(field.key) or "").strip()
            if field.media and data.get("header_file") is not None:
                value = ""  # the uploaded file fills the header
            elif not value:
                missing.append(field.label)
            parameters.append(value[:1024])
        if missing:
            raise forms.ValidationError(f"Fill in {', '.join(missing)}.")
        data["parameters"] = parameters
        return data


class LinkForm(forms.Form):
    entity_type = forms.ChoiceField(choices=())
    entity_id = forms.CharField(max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity_type"].choices = [(t, t.replace("_", " ")) for t in settings.ENTITY_TYPES]
