"""What the simulator knows about Meta's Cloud API: message types, limits, error codes and titles,
sample templates and media, and the per-second count of arriving sends."""

import base64
import math
import re
import secrets
from collections import Counter
from pathlib import Path

SEND_TYPES = {
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "template",
    "reaction",
    "location",
    "contacts",
    "interactive",
}
MEDIA_TYPES = {"image", "video", "audio", "document", "sticker"}
CAPTION_TYPES = {"image", "video", "document"}
MEDIA_LIMITS = {"image": 5, "video": 16, "audio": 16, "document": 100, "sticker": 0.5}  # MB
INBOUND_TYPES = [
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "unsupported",
]
# Meta's limits on interactive messages (reply buttons and lists), as the Cloud API refuses past them.
INTERACTIVE_LIMITS = {
    "body": 1024,
    "header": 60,
    "footer": 60,
    "buttons": 3,
    "button_title": 20,
    "button_id": 256,
    "list_button": 20,
    "sections": 10,
    "section_title": 24,
    "rows": 10,
    "row_title": 24,
    "row_description": 72,
    "row_id": 200,
}
VERSION_RE = re.compile(r"^v\d+\.\d+$")
TO_RE = re.compile(r"^\+\d{7,15}$|^US\.\d+$")
# Meta answers most errors with HTTP 400; these differ.
HTTP_STATUS = {0: 401, 190: 401, 1: 500, 2: 503, 131000: 500, 131016: 503, 4: 429, 80007: 429, 130429: 429}
TITLES = {
    0: "AuthException",
    1: "API Unknown",
    2: "API Service",
    4: "Application request limit reached",
    100: "Invalid parameter",
    190: "Access token has expired",
    368: "Temporarily blocked for policies violations",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131051: "Unsupported message type",
    131053: "Media upload error",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131057: "Account in maintenance mode",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132015: "Template is paused",
    132016: "Template has been disabled",
}

SAMPLE_TEMPLATES = [
    {
        "id": "1000000000000001",
        "name": "hello_world",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
            {"type": "BODY", "text": "Welcome and congratulations! This message comes from the simulator."},
            {"type": "FOOTER", "text": "Madio WhatsApp"},
        ],
    },
    {
        "id": "1000000000000002",
        "name": "order_update",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way."}],
    },
    {
        "id": "1000000000000003",
        "name": "order_update",
        "language": "hi",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "नमस्ते {{1}}, आपका ऑर्डर {{2}} रास्ते में है।"}],
    },
    {
        "id": "1000000000000004",
        "name": "appointment_reminder",
        "language": "en",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Reminder for {{1}}"},
            {"type": "BODY", "text": "Your appointment is on {{1}} at {{2}}."},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "URL", "text": "Details", "url": "https://example.com/appointments/{{1}}"},
                    {"type": "QUICK_REPLY", "text": "Reschedule"},
                ],
            },
        ],
    },
    {
        "id": "1000000000000005",
        "name": "invoice_document",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "DOCUMENT"},
            {"type": "BODY", "text": "Please find invoice {{1}} attached."},
        ],
    },
    {
        "id": "1000000000000006",
        "name": "festival_offer",
        "language": "en_US",
        "status": "PENDING",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Our festival offer is here: {{1}} off."}],
    },
]

# Small but real files, so the inbox has something to show for inbound media.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SAMPLE_MEDIA = {
    "image": ("image/png", "photo.png", TINY_PNG),
    # A 128 x 128 WebP with alpha (VP8X, not animated) that browsers decode, as a customer's sticker is.
    "sticker": ("image/webp", "sticker.webp", (Path(__file__).parent / "samples" / "sticker.webp").read_bytes()),
    "video": ("video/mp4", "clip.mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"),
    "audio": ("audio/ogg", "voice.ogg", b"OggS\x00\x02" + b"\x00" * 20),
    "document": ("application/pdf", "invoice.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"),
}


def new_wamid():
    raw = b"\x00" + secrets.token_bytes(30)
    return "wamid." + base64.b64encode(raw).decode()


def digits(number):
    return re.sub(r"\D", "", number or "")


class MetaError(Exception):
    def __init__(self, code, message="", *, http_status=None, details="", subcode=None, retry_after=None):
        super().__init__(message)
        self.code = code
        self.message = message or f"(#{code}) {TITLES.get(code, 'Error')}"
        self.http_status = http_status or HTTP_STATUS.get(code, 400)
        self.details = details
        self.subcode = subcode
        self.retry_after = retry_after

    def body(self):
        error = {
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details or TITLES.get(self.code, "")},
            "fbtrace_id": "A" + secrets.token_hex(11),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


def invalid(details, code=100):
    return MetaError(code, f"(#{code}) {TITLES.get(code, 'Invalid parameter')}", details=details)


def arrival_summary(times):
    """Counts of send requests by their arrival times (seconds since the epoch), as the receiver saw them.

    per_second counts each wall-clock second; busiest_window is the most arrivals in any
    one-second span [t, t + 1), whatever t, so a cap's "never above N per second" holds
    only if both busiest counts are at most N. The rate is arrivals per second between the
    first and the last one.
    """
    times = sorted(times)
    per_second = Counter(math.floor(at) for at in times)
    second, in_second = max(per_second.items(), key=lambda item: (item[1], -item[0]), default=(None, 0))
    start, best, first = None, 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1:
            first += 1
        if last - first + 1 > best:
            start, best = times[first], last - first + 1
    span = times[-1] - times[0] if times else 0
    return {
        "count": len(times),
        "first_at": times[0] if times else None,
        "last_at": times[-1] if times else None,
        "rate": round((len(times) - 1) / span, 2) if span > 0 else None,
        "per_second": [[at, count] for at, count in sorted(per_second.items())],
        "busiest_second": {"second": second, "count": in_second},
        "busiest_window": {"start": start, "count": best},
    }
