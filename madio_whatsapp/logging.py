"""Log hygiene: every handler masks phone numbers.

The filter is the safety net; the discipline comes first: code logs ids and
masked numbers (chat.phones.mask_phone), never message content, contact names
or tokens. settings.LOGGING attaches the filter to every handler, and
madio_whatsapp.celery attaches it to the handlers Celery installs in workers.
"""

import logging
import re

from chat.phones import mask_phone

# "+91 98765 43210", "+919876543210", "(+44) 20-7946-0958", and WhatsApp's bare
# "919876543210" (9 to 15 digits in a row). Dates and short ids stay as they are.
PHONE_PATTERN = re.compile(r"\+\(?\d[\d ().-]{5,20}\d|(?<![\w.])\d{9,15}(?![\w])")


def mask_phones(text):
    return PHONE_PATTERN.sub(lambda match: mask_phone(re.sub(r"[^\d+]", "", match.group())), text)


class MaskPhonesFilter(logging.Filter):
    """Rewrite the record's message (and traceback) with every phone number masked."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the record, log it as it stands
            message = str(record.msg)
        record.msg = mask_phones(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_phones(record.stack_info)
        return True


def install(logger=None, **_):
    """Attach the filter to every handler of `logger` (the root logger by default)."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(existing, MaskPhonesFilter) for existing in handler.filters):
            handler.addFilter(MaskPhonesFilter())
