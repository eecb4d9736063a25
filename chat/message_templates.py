"""Approved WhatsApp templates: how many parameters each takes, the Cloud API
`components` that fill them, and the one way a template is sent (template_send,
called by the chat page and the API alike).

Parameters fill, in this order: the header (its {{n}} texts, or the address of its
image, video or document), the body, then URL and copy-code buttons.
integrations.templates.template_check (the send task's check) counts the same way."""

import re

from chat.models import Message, MessageTemplate
from chat.services import message_queue
from integrations.fetch import FetchRefused, check_url

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_HEADERS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}


class TemplateRefused(ValueError):
    def __init__(self, field, reason):
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _names(text):
    return list(dict.fromkeys(PLACEHOLDER.findall(text or "")))


def template_slots(components):
    """[(component type, button index or None, [placeholder names])] for the parts that take parameters."""
    slots = []
    for component in components or []:
        if not isinstance(component, dict):
            continue
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            header_format = str(component.get("format", "TEXT")).upper()
            if header_format in MEDIA_HEADERS:
                slots.append(("header", MEDIA_HEADERS[header_format], ["link"]))
            elif header_format == "TEXT" and _names(component.get("text")):
                slots.append(("header", None, _names(component.get("text"))))
        elif kind == "BODY":
            names = _names(component.get("text"))
            if names:
                slots.append(("body", None, names))
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                button_type = str(button.get("type", "")).upper() if isinstance(button, dict) else ""
                if button_type == "URL" and _names(button.get("url")):
                    slots.append(("button", index, _names(button.get("url"))))
                elif button_type == "COPY_CODE":
                    slots.append(("copy_code", index, ["code"]))
    return slots


def slots_described(slots):
    """ "the document header's address, 2 body values", in the order the parameters are given."""
    parts = []
    for kind, index, names in slots:
        count = len(names)
        if kind == "header" and index in MEDIA_HEADERS.values():
            parts.append(f"the {index} header's address")
        elif kind == "copy_code":
            parts.append(f"the code of button {index + 1}")
        elif kind == "button":
            parts.append(f"{count} value{'s' if count != 1 else ''} for button {index + 1}")
        else:
            parts.append(f"{count} {kind} value{'s' if count != 1 else ''}")
    return ", ".join(parts) or "none"


def parameter_count(components):
    return sum(len(names) for _, _, names in template_slots(components))


def body_text(components):
    for component in components or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY":
            return str(component.get("text") or "")
    return ""


def body_parameters(components):
    """The body's placeholders in order of first appearance: ["1", "2"] or named ones."""
    for kind, _, names in template_slots(components):
        if kind == "body":
            return names
    return []


def template_named(*, name, language):
    template = MessageTemplate.objects.filter(name=name, language=language).first()
    if template is None:
        raise TemplateRefused(
            "name",
            f"There is no template '{name[:80]}' in language '{language}'; GET /api/whatsapp/templates lists them.",
        )
    return template


def template_send(
    *,
    conversation,
    author,
    parameters,
    template=None,
    name="",
    language="",
    entity=None,
    idempotency_key=None,
):
    """Fill `template` (or the one called `name` in `language`) with `parameters` and queue it.

    Raises TemplateRefused (naming the input at fault) when the template cannot be sent
    so filled, and chat.services.SendRefused when the conversation cannot take it.
    """
    if template is None:
        template = template_named(name=name, language=language)
    parameters = list(parameters)
    components, body = template_fill(template, parameters)
    payload = {
        "name": template.name,
        "language": template.language,
        "parameters": parameters,
        "components": components,
    }
    return message_queue(
        conversation=conversation,
        author=author,
        message_type=Message.Type.TEMPLATE,
        body=body,
        data={"template": payload},
        entity=entity,
        idempotency_key=idempotency_key,
    )


def template_fill(template, parameters):
    """(Cloud API components, the body as the customer reads it) for these parameters.

    Raises TemplateRefused when the template is not approved or the count is wrong.
    """
    if template.status.upper() != "APPROVED":
        raise TemplateRefused(
            "name",
            f"The template '{template.name}' ({template.language}) is {template.status.lower()}, not approved, "
            "so WhatsApp would refuse it.",
        )
    if any(
        isinstance(c, dict)
        and str(c.get("type", "")).upper() == "HEADER"
        and str(c.get("format", "")).upper() == "LOCATION"
        for c in template.components or []
    ):
        raise TemplateRefused(
            "name", f"The template '{template.name}' has a location header, which this API cannot fill."
        )
    slots = template_slots(template.components)
    expected = sum(len(names) for _, _, names in slots)
    if len(parameters) != expected:
        raise TemplateRefused(
            "parameters",
            f"The template '{template.name}' takes {expected} parameter{'s' if expected != 1 else ''} "
            f"({slots_described(slots)}); {len(parameters)} {'were' if len(parameters) != 1 else 'was'} given.",
        )
    values = iter(parameters)
    components, body_values = [], {}
    for kind, index, names in slots:
        if kind == "header" and index in MEDIA_HEADERS.values():
            link = next(values)
            _check_link(link, media=index)
            components.append({"type": "header", "parameters": [{"type": index, index: {"link": link}}]})
            continue
        if kind == "copy_code":
            code = {"type": "coupon_code", "coupon_code": next(values)}
            components.append({"type": "button", "sub_type": "copy_code", "index": str(index), "parameters": [code]})
            continue
        filled = []
        for name in names:
            value = next(values)
            parameter = {"type": "text", "text": value}
            if not name.isdigit():
                parameter["parameter_name"] = name
            filled.append(parameter)
            if kind == "body":
                body_values[name] = value
        if kind == "button":
            components.append({"type": "button", "sub_type": "url", "index": str(index), "parameters": filled})
        else:
            components.append({"type": kind, "parameters": filled})
    text = PLACEHOLDER.sub(lambda m: body_values.get(m.group(1), m.group(0)), body_text(template.components))
    return components, text


def _check_link(link, *, media):
    """A media header's parameter is the file's public address, which WhatsApp fetches."""
    try:
        check_url(link)
    except FetchRefused as refused:
        raise TemplateRefused(
            "parameters", f"The header {media} parameter must be its public address: {refused}"
        ) from None
