"""Phone numbers: what people type, turned into E.164, and masked for logs."""

import phonenumbers
from django.conf import settings


class InvalidPhone(ValueError):
    pass


def normalize_phone(text, region=None):
    """Return `text` as E.164 (+919876543210), or raise InvalidPhone.

    Accepts the ways people write numbers: spaces, dashes, brackets, a leading 00,
    and WhatsApp's own digits-only form (919876543210).
    """
    raw = (text or "").strip()
    if not raw:
        raise InvalidPhone("Enter a phone number.")
    if len(raw) > 40:
        raise InvalidPhone("That is too long to be a phone number.")
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    region = region or getattr(settings, "PHONE_DEFAULT_REGION", None)
    candidates = [raw] if raw.startswith("+") or region else ["+" + raw]
    if not raw.startswith("+") and region:
        candidates.append("+" + raw)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, None if candidate.startswith("+") else region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhone("Enter a valid phone number with its country code, such as +919876543210.")


def phone_display(e164):
    """+12025550123 -> "+1 202 555 0123": the international form, spaced as people read it."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL).replace("-", " ")


def looks_like_phone(text):
    digits = sum(ch.isdigit() for ch in text or "")
    return digits >= 6 and digits >= len((text or "").strip()) // 2


def mask_phone(value):
    """+919876543210 -> +91******3210: enough to tell numbers apart in a log, no more."""
    value = str(value or "")
    if len(value) <= 6:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]
