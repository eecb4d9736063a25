"""Filters the chat templates use: formatting, times, ticks and media details."""

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format

from chat.formatting import error_reason, whatsapp_html
from chat.services.inbox import SNOOZE_CHOICES

register = template.Library()


@register.filter
def unread_badge(count):
    """A filter's unread count as its badge shows it: 99+ beyond 99."""
    return "99+" if count > 99 else str(count)


@register.filter
def whatsapp(text):
    """Customer text, escaped, with WhatsApp's formatting: {{ message.message_body|whatsapp }}."""
    return whatsapp_html(text)


@register.filter
def note_text(text):
    """A staff note, escaped and formatted as customer text is, with its @mentions marked."""
    return whatsapp_html(text, mentions=True)


@register.simple_tag
def snooze_choices():
    """The snooze menu: [(choice, label)], as chat.services.inbox.snooze_end reads them."""
    return list(SNOOZE_CHOICES.items())


@register.filter
def failure_reason(message):
    return error_reason(message)


def _local(value):
    return timezone.localtime(value) if timezone.is_aware(value) else value


@register.filter
def clock(value):
    """A bubble's time, 14:05: the thread's day chips say which day."""
    return _local(value).strftime("%H:%M") if value else ""


@register.filter
def day_key(value):
    """The local day of a thread row (2026-12-07), from which the page draws its day chips."""
    return _local(value).date().isoformat() if value else ""


@register.simple_tag
def utc_offset():
    """Minutes east of UTC of TIME_ZONE now, so the page knows which day is "Today" here."""
    return int(timezone.localtime().utcoffset().total_seconds() // 60)


@register.filter
def list_time(value, now=None):
    """The sidebar's time: 14:05 today, Yesterday, the weekday this week, else the date."""
    if not value:
        return ""
    value, today = _local(value), _local(now or timezone.now()).date()
    days = (today - value.date()).days
    if days <= 0:
        return value.strftime("%H:%M")
    if days == 1:
        return "Yesterday"
    if days < 7:
        return date_format(value, "l")
    return date_format(value, "d/m/Y")


@register.filter
def bubble_time(value, now=None):
    """A bubble's time: 14:05 today, Yesterday 14:05, Mon 14:05 this week, 3 Nov 14:05 before."""
    if not value:
        return ""
    value, today = _local(value), _local(now or timezone.now()).date()
    days = (today - value.date()).days
    clock = value.strftime("%H:%M")
    if days == -1:
        return f"tomorrow {clock}"  # the end of the 24-hour window
    if days <= 0:
        return clock
    if days == 1:
        return f"Yesterday {clock}"
    if days < 7:
        return f"{date_format(value, 'D')} {clock}"
    if value.year == today.year:
        return f"{date_format(value, 'j M')} {clock}"
    return f"{date_format(value, 'j M Y')} {clock}"


@register.filter
def exact_time(value):
    if not value:
        return ""
    return date_format(_local(value), "l j F Y, H:i:s")


@register.filter
def iso_time(value):
    return value.isoformat() if value else ""


@register.filter
def message_time(message):
    return message.whatsapp_timestamp or message.created_at


@register.filter
def location(message):
    """{latitude, longitude, name, address} from data or data["location"], coordinates as floats."""
    data = message.data if isinstance(message.data, dict) else {}
    place = data.get("location") if isinstance(data.get("location"), dict) else data
    try:
        latitude, longitude = float(place.get("latitude")), float(place.get("longitude"))
    except (TypeError, ValueError):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return {
        "latitude": latitude,
        "longitude": longitude,
        "name": str(place.get("name") or ""),
        "address": str(place.get("address") or ""),
    }


@register.filter
def interactive_choices(message):
    """An outbound interactive message's choices: {"buttons": [titles]} or {"list": label, "rows": [...]}."""
    data = message.data if isinstance(message.data, dict) else {}
    content = data.get("interactive") if isinstance(data.get("interactive"), dict) else {}
    action = content.get("action") if isinstance(content.get("action"), dict) else {}
    if content.get("type") == "button":
        buttons = [b.get("reply") for b in action.get("buttons") or [] if isinstance(b, dict)]
        return {"buttons": [str(b.get("title") or "") for b in buttons if isinstance(b, dict)]}
    if content.get("type") == "list":
        rows = [
            {"title": str(row.get("title") or ""), "description": str(row.get("description") or "")}
            for section in action.get("sections") or []
            if isinstance(section, dict)
            for row in section.get("rows") or []
            if isinstance(row, dict)
        ]
        return {"list": str(action.get("button") or ""), "rows": rows}
    return None


@register.filter
def contact_cards(message):
    """data["contacts"] as [{name, phones: [..], emails: [..], org}] with only strings kept."""
    data = message.data if isinstance(message.data, dict) else {}
    cards = []
    for contact in data.get("contacts") or []:
        if not isinstance(contact, dict):
            continue
        name = contact.get("name") if isinstance(contact.get("name"), dict) else {}
        phones = [
            str(p.get("phone") or p.get("wa_id") or "") for p in contact.get("phones") or [] if isinstance(p, dict)
        ]
        emails = [str(e.get("email") or "") for e in contact.get("emails") or [] if isinstance(e, dict)]
        org = contact.get("org") if isinstance(contact.get("org"), dict) else {}
        cards.append(
            {
                "name": str(name.get("formatted_name") or name.get("first_name") or "Contact"),
                "phones": [p for p in phones if p],
                "emails": [e for e in emails if e],
                "org": str(org.get("company") or ""),
            }
        )
    return cards


@register.filter
def template_name(message):
    data = message.data if isinstance(message.data, dict) else {}
    template_data = data.get("template") if isinstance(data.get("template"), dict) else {}
    return str(template_data.get("name") or "")


@register.filter
def unsupported_type(message):
    data = message.data if isinstance(message.data, dict) else {}
    return str(data.get("type") or data.get("raw_type") or "")


@register.filter
def doc_icon(message):
    """A short label for a document chip, from its extension or type."""
    name = (message.file_name or "").lower()
    if "." in name:
        return name.rsplit(".", 1)[1][:4].upper()
    mime = (message.mime_type or "").split(";")[0]
    return {"application/pdf": "PDF"}.get(mime, "FILE")


@register.simple_tag
def entity_types():
    """The ERP record types a message can be linked to (settings.ENTITY_TYPES)."""
    return settings.ENTITY_TYPES


@register.filter
def entity_label(entity_type):
    """petty_cash -> Petty cash."""
    return str(entity_type or "").replace("_", " ").capitalize()


BACKUP_TITLES = {
    "pending": "Waiting to be backed up to SharePoint",
    "uploading": "Uploading to SharePoint…",
    "uploaded": "Backed up to SharePoint",
    "failed": "The SharePoint backup failed; an admin can retry it",
    "disabled": "SharePoint backup is off",
}


@register.filter
def backup_title(message):
    """The SharePoint backup state of a media file, in words, for the mark on its chip."""
    title = BACKUP_TITLES.get(message.sharepoint_state, "")
    if message.sharepoint_state == "failed":
        if message.sharepoint_retry_at:
            when = date_format(timezone.localtime(message.sharepoint_retry_at), "DATETIME_FORMAT")
            title = f"The SharePoint backup failed for now; it will be tried again after {when}"
        if message.sharepoint_error:
            title = f"{title}: {message.sharepoint_error[:200]}"
    return title


@register.filter
def backup_link(message):
    """The SharePoint webUrl, only when it is an https address."""
    url = message.media_url or ""
    return url if message.sharepoint_state == "uploaded" and url.startswith("https://") else ""
