"""Approved WhatsApp templates: how many parameters each takes, and the Cloud API
`components` that fill them (header text, body, then URL buttons, in that order)."""

import re

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


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
        if kind == "HEADER" and str(component.get("format", "TEXT")).upper() == "TEXT":
            names = _names(component.get("text"))
            if names:
                slots.append(("header", None, names))
        elif kind == "BODY":
            names = _names(component.get("text"))
            if names:
                slots.append(("body", None, names))
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                if isinstance(button, dict) and str(button.get("type", "")).upper() == "URL":
                    names = _names(button.get("url"))
                    if names:
                        slots.append(("button", index, names))
    return slots


def parameter_count(components):
    return sum(len(names) for _, _, names in template_slots(components))


def body_text(components):
    for component in components or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY":
            return str(component.get("text") or "")
    return ""


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
    slots = template_slots(template.components)
    expected = sum(len(names) for _, _, names in slots)
    if len(parameters) != expected:
        raise TemplateRefused(
            "parameters",
            f"The template '{template.name}' takes {expected} parameter{'s' if expected != 1 else ''}; "
            f"{len(parameters)} {'were' if len(parameters) != 1 else 'was'} given.",
        )
    values = iter(parameters)
    components, body_values = [], {}
    for kind, index, names in slots:
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
