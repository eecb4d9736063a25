"""Locations, contact cards, reply buttons and lists: checked against WhatsApp's limits, built as
the Cloud API's objects.

One table (LIMITS) holds the limits; the composer renders it into the page (json_script) for its
maxlength and hints, chat.services checks with it before anything is queued, and the simulator
refuses past the same numbers. Each build_* returns (message type, the object to send, the text
a bubble and the sidebar show), or raises RichRefused naming the field.

The object is stored in Message.data under its type ("location", "contacts", "interactive"), as an
inbound one is, so the send task (integrations.outbound) posts it as it is and the bubble reuses
the inbound rendering.
"""

from chat.models import Message
from chat.payload import clean

LIMITS = {
    "interactive_body": 1024,
    "interactive_footer": 60,
    "button_title": 20,
    "buttons_max": 3,
    "list_button": 20,
    "row_title": 24,
    "row_description": 72,
    "rows_max": 10,
    "location_name": 1000,
    "location_address": 1000,
    "contact_name": 256,
    "contact_phone": 32,
    "contact_email": 256,
    "contact_org": 256,
}


class RichRefused(ValueError):
    """A location, contact or interactive message WhatsApp would refuse; `field` is the form field."""

    def __init__(self, field, reason):
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _checked(value, *, field, label, limit, required=False):
    # clean(): no NUL or lone surrogate reaches the JSON column (the composer's fields come unfiltered).
    text = clean(str(value or "")).replace("\r\n", "\n").strip()
    if LIMITS[limit] <= 72:  # titles and labels are one line
        text = " ".join(text.split())
    if required and not text:
        raise RichRefused(field, f"{label}: fill it in.")
    if len(text) > LIMITS[limit]:
        raise RichRefused(field, f"{label}: at most {LIMITS[limit]:,} characters (this one has {len(text):,}).")
    return text


def _coordinate(value, *, field, label, bound):
    try:
        number = float(str(value or "").strip().replace(",", "."))
    except ValueError:
        raise RichRefused(field, f"{label}: a number such as {bound / 2:.4f}.") from None
    if not -bound <= number <= bound:
        raise RichRefused(field, f"{label}: between -{bound} and {bound}.")
    return round(number, 6)


def build_location(*, latitude, longitude, name="", address=""):
    place = {
        "latitude": _coordinate(latitude, field="location_latitude", label="Latitude", bound=90),
        "longitude": _coordinate(longitude, field="location_longitude", label="Longitude", bound=180),
    }
    name = _checked(name, field="location_name", label="Place name", limit="location_name")
    address = _checked(address, field="location_address", label="Address", limit="location_address")
    if name:
        place["name"] = name
    if address:
        place["address"] = address
    return Message.Type.LOCATION, place, name or address


def build_contact(*, name, phone, email="", org=""):
    name = _checked(name, field="contact_name", label="Contact's name", limit="contact_name", required=True)
    phone = _checked(phone, field="contact_phone", label="Contact's phone", limit="contact_phone", required=True)
    if not phone.lstrip("+").replace(" ", "").replace("-", "").isdigit():
        raise RichRefused("contact_phone", "Contact's phone: digits, with the country code (+91 98765 43210).")
    email = _checked(email, field="contact_email", label="Contact's email", limit="contact_email")
    if email and "@" not in email:
        raise RichRefused("contact_email", "Contact's email: an address such as name@example.com.")
    org = _checked(org, field="contact_org", label="Company", limit="contact_org")
    first, _, last = name.partition(" ")
    card = {"name": {"formatted_name": name, "first_name": first}, "phones": [{"phone": phone, "type": "CELL"}]}
    if last:
        card["name"]["last_name"] = last
    if email:
        card["emails"] = [{"email": email, "type": "WORK"}]
    if org:
        card["org"] = {"company": org}
    return Message.Type.CONTACTS, [card], name


def _body_and_footer(prefix, body, footer):
    content = {
        "body": {
            "text": _checked(body, field=f"{prefix}_body", label="Message", limit="interactive_body", required=True)
        }
    }
    footer = _checked(footer, field=f"{prefix}_footer", label="Footer", limit="interactive_footer")
    if footer:
        content["footer"] = {"text": footer}
    return content


def build_buttons(*, body, titles, footer=""):
    """Reply buttons: up to LIMITS["buttons_max"] titles (empty ones skipped), each distinct."""
    content = _body_and_footer("buttons", body, footer)
    buttons = []
    for number, title in enumerate(titles, start=1):
        title = _checked(title, field=f"button_{number}", label=f"Button {number}", limit="button_title")
        if title:
            buttons.append(title)
    if not buttons:
        raise RichRefused("button_1", "Button 1: give at least one button a title.")
    if len(buttons) > LIMITS["buttons_max"]:
        raise RichRefused("buttons", f"Buttons: at most {LIMITS['buttons_max']} (these are {len(buttons)}).")
    if len({title.casefold() for title in buttons}) != len(buttons):
        raise RichRefused("buttons", "Buttons: each title must differ from the others.")
    content = {"type": "button", **content}
    content["action"] = {
        "buttons": [
            {"type": "reply", "reply": {"id": f"button-{n}", "title": title}} for n, title in enumerate(buttons, 1)
        ]
    }
    return Message.Type.INTERACTIVE, content, content["body"]["text"]


def list_rows(text):
    """The composer's list rows: one a line, "Title | description" (the description optional)."""
    rows = []
    for line in str(text or "").replace("\r\n", "\n").split("\n"):
        if line.strip():
            title, _, description = line.partition("|")
            rows.append((title, description))
    return rows


def build_list(*, body, button, rows, footer=""):
    """A list message: one section of up to LIMITS["rows_max"] rows of (title, description)."""
    content = _body_and_footer("list", body, footer)
    button = _checked(button, field="list_button", label="List button", limit="list_button", required=True)
    if not rows:
        raise RichRefused("list_rows", "Rows: write at least one, one a line.")
    if len(rows) > LIMITS["rows_max"]:
        raise RichRefused("list_rows", f"Rows: at most {LIMITS['rows_max']} (these are {len(rows)}).")
    built = []
    for number, (title, description) in enumerate(rows, start=1):
        row = {
            "id": f"row-{number}",
            "title": _checked(title, field="list_rows", label=f"Row {number}", limit="row_title", required=True),
        }
        description = _checked(
            description, field="list_rows", label=f"Row {number}'s description", limit="row_description"
        )
        if description:
            row["description"] = description
        built.append(row)
    if len({row["title"].casefold() for row in built}) != len(built):
        raise RichRefused("list_rows", "Rows: each title must differ from the others.")
    content = {"type": "list", **content, "action": {"button": button, "sections": [{"rows": built}]}}
    return Message.Type.INTERACTIVE, content, content["body"]["text"]
