"""Tolerant readers of what other systems hand us (Meta's webhook payloads, file names).

A leaf module: it imports nothing of the project, so the chat services and the
integrations that parse Meta's envelopes read payloads by the same rules.
"""

import json
import unicodedata
from datetime import UTC, datetime

# An IntegerField's range: a larger number is dropped rather than refused by the database.
MAX_INT = 2**31 - 1


def clean(value):
    """Drop what a database refuses in text and JSON: NUL characters and lone surrogates."""
    if isinstance(value, str):
        value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {clean(str(key)): clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean(item) for item in value]
    return value


def as_text(value, limit=None):
    """A string field from a payload value: "" for missing, objects and lists."""
    if value is None or isinstance(value, dict | list):
        return ""
    text = clean(str(value))
    return text[:limit] if limit else text


def as_dict(value):
    return value if isinstance(value, dict) else {}


def as_list(value):
    return value if isinstance(value, list) else []


def as_int(value):
    """An integer that fits an IntegerField, else None."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -MAX_INT <= number <= MAX_INT else None


def as_size(value):
    """A byte count of any size, else None."""
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def loads(raw):
    """json.loads that refuses NaN and Infinity, which no database stores as JSON."""
    return json.loads(raw, parse_constant=_reject_constant)


def parse_timestamp(value):
    """Meta's Unix seconds, as a string ("1700000000") or a number; None when unusable."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        seconds = int(float(value)) if isinstance(value, str | float) else int(value)
    except (ValueError, OverflowError):
        return None
    if not 0 < seconds < 253402300799:  # before year 10000
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


RESERVED_NAMES = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def safe_file_name(name, *, fallback="file"):
    """A file name safe to store: no directories, control characters, NUL or reserved device names."""
    name = as_text(name).replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip().strip(". ").strip()
    if name.split(".", 1)[0].strip().lower() in RESERVED_NAMES:
        name = "_" + name
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[: 119 - len(ext)]}.{ext}" if dot and 0 < len(ext) <= 16 else name[:120]
    return name or fallback
