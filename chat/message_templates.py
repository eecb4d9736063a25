"""Approved WhatsApp templates: how many parameters each takes, the Cloud API
`components` that fill them, and the one way a template is sent (template_send,
called by the chat page and the API alike).

Parameters fill, in this order: the header (its {{n}} texts, or the address of its
image, video or document), the body, then URL and copy-code buttons.
integrations.templates.template_check (the send task's check) counts the same way."""

import logging
import re
from typing import NamedTuple

from django.core.cache import cache
from django.db import transaction

from chat.media_rules import MediaRefused, check_upload
from chat.models import Message, MessageTemplate
from chat.services import conversation_get_or_create, message_queue
from integrations import tasks
from integrations.fetch import FetchRefused, check_url

logger = logging.getLogger(__name__)

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


class TemplateField(NamedTuple):
    """One input of the template form: its name, a label in plain words, and an example value."""

    key: str
    label: str
    example: str = ""
    media: str = ""  # image, video or document for a media header's address; else a text value


def _words(name):
    return name.replace("_", " ").strip()


def _examples(component, kind):
    """{placeholder name: example value} from what the template's author gave Meta."""
    example = component.get("example") if isinstance(component.get("example"), dict) else {}
    found = {}
    positional = example.get(f"{kind}_text")
    if positional and isinstance(positional[0], list):  # the body's examples come as a list of lists
        positional = positional[0]
    for position, value in enumerate(positional or [], start=1):
        found[str(position)] = str(value)
    for named in example.get(f"{kind}_text_named_params") or []:
        if isinstance(named, dict) and named.get("param_name"):
            found[str(named["param_name"])] = str(named.get("example") or "")
    return found


def _button_example(button, url):
    """The part of the example address that the {{1}} stands for ("ABC123" of …/track/ABC123)."""
    examples = button.get("example")
    example = str(examples[0]) if isinstance(examples, list) and examples else str(examples or "")
    prefix = PLACEHOLDER.split(url)[0]
    return example[len(prefix) :] if prefix and example.startswith(prefix) else example


def template_fields(components):
    """The inputs a template needs, one per parameter, in template_fill's order.

    The page's template form (chat/_template_fields.html) shows them and chat.forms reads them
    back by `key`; labels come from the placeholder's position or name, examples from the template.
    """
    fields = []
    parts = {str(c.get("type", "")).upper(): c for c in components or [] if isinstance(c, dict) and c.get("type")}
    buttons = [b if isinstance(b, dict) else {} for b in (parts.get("BUTTONS") or {}).get("buttons") or []]
    for kind, index, names in template_slots(components):
        if kind == "header" and index in MEDIA_HEADERS.values():
            fields.append(TemplateField("header_link", f"Header {index}", media=index))
        elif kind in ("header", "body"):
            examples = _examples(parts.get(kind.upper()) or {}, kind)
            for name in names:
                label = (
                    f"{kind.capitalize()} value {name}" if name.isdigit() else f"{kind.capitalize()}: {_words(name)}"
                )
                fields.append(TemplateField(f"{kind}_{name}", label, examples.get(name, "")))
        else:
            button = buttons[index] if index < len(buttons) else {}
            title = str(button.get("text") or f"button {index + 1}")
            if kind == "copy_code":
                example = button.get("example")
                example = str(example[0] if isinstance(example, list) and example else example or "")
                fields.append(TemplateField(f"button_{index}_code", f"Button '{title}' code to copy", example))
                continue
            example = _button_example(button, str(button.get("url") or ""))
            for name in names:
                fields.append(TemplateField(f"button_{index}_{name}", f"Button '{title}' link ending", example))
    return fields


def template_preview(components):
    """What the customer will read, for the form's preview: {"header", "body", "footer", "buttons"}.

    Texts come as [(literal text, input key or "")] pieces, so the page can show each placeholder
    as the value typed into that input (the keys of template_fields).
    """
    preview = {"header": [], "body": [], "footer": "", "buttons": []}
    for component in components or []:
        if not isinstance(component, dict):
            continue
        kind = str(component.get("type", "")).upper()
        if kind in ("HEADER", "BODY") and str(component.get("format", "TEXT")).upper() == "TEXT":
            preview[kind.lower()] = _pieces(str(component.get("text") or ""), kind.lower())
        elif kind == "HEADER":
            preview["header"] = [(f"[{str(component.get('format', '')).lower()}]", "")]
        elif kind == "FOOTER":
            preview["footer"] = str(component.get("text") or "")
        elif kind == "BUTTONS":
            preview["buttons"] = [
                str(b.get("text") or "") for b in component.get("buttons") or [] if isinstance(b, dict)
            ]
    return preview


def _pieces(text, kind):
    pieces, start = [], 0
    for match in PLACEHOLDER.finditer(text):
        pieces.append((text[start : match.start()], ""))
        pieces.append((match.group(0), f"{kind}_{match.group(1)}"))
        start = match.end()
    pieces.append((text[start:], ""))
    return [piece for piece in pieces if piece[0]]


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
    header_file=None,
):
    """Fill `template` (or the one called `name` in `language`) with `parameters` and queue it.

    header_file, an uploaded file, fills a media header instead of its address (left "" in
    `parameters`); the worker uploads it to WhatsApp and sends its media id.
    Raises TemplateRefused (naming the input at fault) when the template cannot be sent
    so filled, and chat.services.SendRefused when the conversation cannot take it.
    """
    if template is None:
        template = template_named(name=name, language=language)
    parameters = list(parameters)
    components, body = template_fill(template, parameters, header_file=header_file)
    upload = {}
    if header_file is not None:
        media = _media_header(template)
        if media is None:
            raise TemplateRefused(
                "header_file", f"The template '{template.name}' has no image, video or document header."
            )
        upload = _checked_upload(header_file, media)
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
        **upload,
    )


def template_start(*, phone, author, **send):
    """Send a first template to `phone`, creating its conversation in the same transaction.

    Never a second conversation for a number (chat.services.conversation_get_or_create), and a
    refused send (TemplateRefused, SendRefused) leaves no conversation behind.
    """
    with transaction.atomic():
        conversation = conversation_get_or_create(phone=phone)
        return template_send(conversation=conversation, author=author, **send)


def _media_header(template):
    """image, video or document when the template's header is one, else None."""
    slots = template_slots(template.components)
    return next((index for kind, index, _ in slots if kind == "header" and index in MEDIA_HEADERS.values()), None)


def _checked_upload(upload, media):
    try:
        _, mime_type = check_upload(upload, media_type=media, file_name=upload.name or media)
    except MediaRefused as refused:
        raise TemplateRefused("header_file", refused.reason) from None
    return {"file": upload, "file_name": (upload.name or media)[:255], "mime_type": mime_type}


def template_fill(template, parameters, *, header_file=None):
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
            if header_file is not None:
                # The worker puts the uploaded file's media id here (integrations.outbound).
                media = {"filename": (header_file.name or "")[:240]} if index == "document" else {}
                components.append({"type": "header", "parameters": [{"type": index, index: media}]})
                continue
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


# --- Keeping the list filled: a page that finds no approved template asks the worker to sync ----

# At most one request per this many seconds, however many pages find the list empty.
SYNC_REQUEST_SECONDS = 300
SYNC_REQUEST_KEY = "templates-sync-requested"


def templates_sync_request():
    """Ask the worker to copy the templates from WhatsApp, unless that was asked lately. True when asked.

    Called by a composer that finds no approved template. A cache or broker that is down only
    costs the request: beat syncs again anyway (WHATSAPP_TEMPLATE_SYNC_MINUTES).
    """
    try:
        if not cache.add(SYNC_REQUEST_KEY, True, SYNC_REQUEST_SECONDS):
            return False
    except Exception as exc:
        logger.warning("Template sync not requested: the cache failed (%s)", type(exc).__name__)
        return False
    transaction.on_commit(_templates_sync_enqueue)
    return True


def _templates_sync_enqueue():
    try:
        tasks.templates_sync_task.delay()
    except Exception as exc:
        logger.warning("Template sync not enqueued (%s); beat will sync later", type(exc).__name__)
