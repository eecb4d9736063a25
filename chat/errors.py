"""Why a send failed, in words a person understands.

Used by the chat page (the failed bubble), the API (a failed message's "error" field)
and the admin. Codes are Meta's (shared/research/whatsapp-cloud-api.md), matched on
the number, never on Meta's text.
"""

SEND_ERRORS = {
    0: "WhatsApp refused this system's access token. An administrator must renew WHATSAPP_ACCESS_TOKEN.",
    190: "WhatsApp refused this system's access token. An administrator must renew WHATSAPP_ACCESS_TOKEN.",
    4: "Too many requests to WhatsApp from this account; it was tried again later and still failed.",
    80007: "This WhatsApp account hit its rate limit; it was tried again later and still failed.",
    130429: "This business number sent more messages per second than WhatsApp allows; retries ran out.",
    131056: "Too many messages to this customer in a short time. Wait a minute and resend.",
    131048: "WhatsApp limited this number for spam. Wait before sending more messages.",
    131000: "WhatsApp had a temporary problem; retries ran out. Resend the message.",
    131016: "WhatsApp was unavailable; retries ran out. Resend the message.",
    131057: "The WhatsApp account was in maintenance; retries ran out. Resend the message.",
    1: "WhatsApp had a temporary problem; retries ran out. Resend the message.",
    2: "WhatsApp was unavailable; retries ran out. Resend the message.",
    100: "WhatsApp rejected the message as invalid (a wrong parameter).",
    131008: "WhatsApp rejected the message: a required part is missing.",
    131009: "WhatsApp rejected the message: one of its values is not valid.",
    131026: "The message could not be delivered: the number may not be on WhatsApp, or the app is too old.",
    131047: "More than 24 hours have passed since the customer last wrote, so WhatsApp only accepts an approved "
    "template. Send a template.",
    131049: "WhatsApp held back this marketing message to protect the customer's experience. Try again tomorrow.",
    131050: "The customer has stopped marketing messages from this business.",
    131051: "WhatsApp does not support this kind of message.",
    131052: "WhatsApp could not download the media.",
    131053: "WhatsApp could not accept the attached file (wrong type or too large).",
    132000: "The template needs a different number of values than were given.",
    132001: "WhatsApp does not know this template in this language. Sync templates and pick another.",
    132005: "The template's text became too long with the values filled in.",
    132007: "The template breaks WhatsApp's policy.",
    132012: "A template value has the wrong format.",
    132015: "The template is paused by WhatsApp because of low quality.",
    132016: "The template is disabled by WhatsApp.",
    133010: "The business phone number is not registered with WhatsApp.",
    368: "The WhatsApp Business Account is restricted for a policy violation.",
    130472: "WhatsApp did not deliver the message: the customer's number is part of an experiment.",
}

# Local reasons (no Meta code): error_code stays null and error_title carries one of these.
INTERRUPTED_TITLE = "Sending was interrupted"
# A send whose answer never came: Meta may have accepted it (integrations.outbound).
UNCERTAIN_TITLE = "No answer from WhatsApp"
TEMPLATE_TITLE = "Template check failed"
# The cache or database failed before the request, on every try (integrations.outbound): nothing left.
UNAVAILABLE_TITLE = "This system was unavailable before sending"


def describe_send_error(code, title=""):
    """One or two sentences for a failed send, for staff. Unknown codes fall back on Meta's title."""
    if code in SEND_ERRORS:
        return SEND_ERRORS[code]
    if code is not None and 132000 <= code < 133000:
        return "WhatsApp rejected the template message. Check the template and its values."
    if code is not None and (code == 3 or code == 10 or 200 <= code <= 299):
        return "This system lacks a WhatsApp permission. An administrator must check the app's access."
    title = (title or "").strip()
    if title == INTERRUPTED_TITLE:
        return (
            "The worker stopped while sending, so WhatsApp may or may not have accepted the message. "
            "Check with the customer before resending."
        )
    if title == UNAVAILABLE_TITLE:
        return (
            "This system's cache or database was unavailable on every try, so the message never reached "
            "WhatsApp. Resend it."
        )
    if title:
        return f"WhatsApp did not accept the message: {title}."
    return "The message could not be sent."
