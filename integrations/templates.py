"""Message templates: synced from WhatsApp Manager, and checked before a template send.

templates_sync() runs from beat, a worker's start and a composer that found none
(integrations.tasks.templates_sync_task), from the composer's "Sync templates" button, and from the
admin's "Sync from WhatsApp" button. template_check() is called by the send task, and
can be called by an API before queueing, to refuse a wrong send with a clear reason.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.message_templates import template_slots
from chat.models import MessageTemplate
from integrations.whatsapp import CloudAPIClient, WhatsAppError

GONE = "DELETED"  # a template Meta no longer lists; kept for history, never sendable


class TemplateInvalid(ValueError):
    """A template send that would be refused, with the reason for a person."""


def template_requirements(components):
    """How many parameters a template's components need: {"header": n, "body": n, "buttons": {index: n}}.

    Counted by chat.message_templates.template_slots, the rule the API and the page fill by.
    """
    needs = {"header": 0, "body": 0, "buttons": {}}
    for kind, index, names in template_slots(components):
        if kind in ("header", "body"):
            needs[kind] = len(names)
        else:
            needs["buttons"][index] = len(names)
    return needs


def template_parameter_counts(components):
    given = {"header": 0, "body": 0, "buttons": {}}
    for component in components:
        if not isinstance(component, dict) or not isinstance(component.get("parameters", []), list):
            raise TemplateInvalid("Each template component needs a type and a list of parameters.")
        kind = str(component.get("type", "")).lower()
        count = len(component.get("parameters") or [])
        if kind in ("header", "body"):
            given[kind] = count
        elif kind == "button":
            try:
                index = int(component.get("index"))
            except (TypeError, ValueError):
                raise TemplateInvalid("A template button component needs its index.") from None
            given["buttons"][index] = count
        else:
            raise TemplateInvalid(f"Unknown template component type '{kind[:20]}'.")
    return given


def template_components(*, parameters=None, components=None):
    """The components to send: given as-is, or built from a plain list of body texts."""
    if components is not None:
        if not isinstance(components, list):
            raise TemplateInvalid("Template components must be a list.")
        return components
    if not parameters:
        return []
    if not isinstance(parameters, list):
        raise TemplateInvalid("Template parameters must be a list of texts.")
    return [{"type": "body", "parameters": [{"type": "text", "text": str(value)} for value in parameters]}]


def template_check(*, name, language, parameters=None, components=None):
    """The components to send for this template, or TemplateInvalid saying what is wrong.

    Checks the synced template exists, is approved, and that the header, body and
    button parameter counts match its {{n}} placeholders.
    """
    template = MessageTemplate.objects.filter(name=name, language=language).first()
    if template is None:
        raise TemplateInvalid(
            f"There is no template '{name}' in language '{language}'. Sync templates from WhatsApp in the admin."
        )
    if template.status.upper() != "APPROVED":
        raise TemplateInvalid(f"The template '{name}' ({language}) is {template.status.lower()}, not approved.")
    sent = template_components(parameters=parameters, components=components)
    needs, given = template_requirements(template.components), template_parameter_counts(sent)
    for part in ("header", "body"):
        if needs[part] != given[part]:
            raise TemplateInvalid(
                f"The template '{name}' needs {needs[part]} {part} value(s), but {given[part]} were given."
            )
    if needs["buttons"] != {i: n for i, n in given["buttons"].items() if n}:
        raise TemplateInvalid(f"The template '{name}' needs button values {needs['buttons'] or 'none'}.")
    return sent


@transaction.atomic
def templates_sync(*, client=None):
    """Copy every template of the business account from WhatsApp into MessageTemplate.

    Templates Meta no longer lists are kept with status DELETED. Returns the number synced.
    Raises WhatsAppError when WhatsApp cannot be asked (nothing changes then).
    """
    if client is None:
        client = CloudAPIClient.from_settings()
    now = timezone.now()
    seen = set()
    for item in client.list_templates():
        name, language = str(item.get("name") or ""), str(item.get("language") or "")
        if not name or not language:
            continue
        seen.add((name, language))
        MessageTemplate.objects.update_or_create(
            name=name[:512],
            language=language[:16],
            defaults={
                "status": str(item.get("status") or "")[:16],
                "category": str(item.get("category") or "")[:32],
                "components": item.get("components") if isinstance(item.get("components"), list) else [],
                "whatsapp_id": str(item.get("id") or "")[:64],
                "synced_at": now,
            },
        )
    gone = [
        pk
        for pk, name, language in MessageTemplate.objects.exclude(status=GONE).values_list("pk", "name", "language")
        if (name, language) not in seen
    ]
    MessageTemplate.objects.filter(pk__in=gone).update(status=GONE, synced_at=now)
    return len(seen)


def templates_sync_now():
    """The composer's "Sync templates" button: sync at once; returns (synced count or None, a sentence)."""
    if not (settings.WHATSAPP_ACCESS_TOKEN and settings.WHATSAPP_BUSINESS_ACCOUNT_ID):
        return None, "WhatsApp is not set up yet (no access token or business account id): ask an administrator."
    try:
        count = templates_sync()
    except WhatsAppError as error:
        return None, f"WhatsApp could not be asked for the templates ({error.title}). Try again in a moment."
    approved = MessageTemplate.objects.filter(status="APPROVED").count()
    return count, f"Synced {count} template(s) from WhatsApp; {approved} approved."
