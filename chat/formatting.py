"""WhatsApp's text formatting turned into safe HTML, and the sentences the page shows.

whatsapp_html() escapes the customer's text first and only then adds the few
tags WhatsApp formatting stands for; nh3 then cleans the result once more, so
nothing a customer types can become markup of its own.
"""

import re

import nh3
from django.utils.html import escape
from django.utils.safestring import mark_safe

ALLOWED_TAGS = {"strong", "em", "del", "code", "pre", "a", "br", "span"}
ALLOWED_ATTRIBUTES = {"a": {"href", "target"}, "span": {"class"}}
URL_SCHEMES = {"http", "https", "mailto", "tel"}

_PLACEHOLDER = "\x00{}\x00"
_CODE_BLOCK = re.compile(r"```(.+?)```", re.S)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
# Escaped text: a URL ends before whitespace or an escaped quote or bracket; "&amp;" stays in it.
_URL = re.compile(r"\b(?:https?://|www\.)(?:(?!&quot;|&#x27;|&lt;|&gt;)[^\s<>\"\x00])+", re.I)
_TRAILING = ".,;:!?)]}'\""
# @username in a staff note, as Django allows usernames: letters, digits and @.+-_ (a trailing dot ends a sentence).
MENTION = re.compile(r"(?<![\w@])@([\w.@+-]*[\w@+-])")
_STYLES = (
    ("*", "strong"),
    ("_", "em"),
    ("~", "del"),
)


def _style(marker, tag):
    m = re.escape(marker)
    # A marker opens at a word's start and closes at a word's end, as in WhatsApp.
    pattern = re.compile(rf"(?<![\w{m}]){m}(?=\S)([^{m}\n]*?\S){m}(?![\w{m}])")
    return pattern, tag


_STYLE_PATTERNS = [_style(marker, tag) for marker, tag in _STYLES]


def _link(url):
    end = len(url)
    while end and url[end - 1] in _TRAILING:
        end -= 1
    url, rest = url[:end], url[end:]
    href = url if "://" in url else f"https://{url}"
    return f'<a href="{href}" target="_blank" rel="noopener noreferrer">{url}</a>{rest}'


def whatsapp_html(text, *, mentions=False):
    """Escaped text with *bold*, _italic_, ~strike~, ```monospace``` and clickable links.

    With mentions (a staff note), each @username is marked as well.
    """
    if not text:
        return mark_safe("")  # noqa: S308 - empty
    stash = []

    def keep(html):
        stash.append(html)
        return _PLACEHOLDER.format(len(stash) - 1)

    html = escape(text.replace("\x00", ""))
    html = _CODE_BLOCK.sub(lambda m: keep(f"<code>{m.group(1)}</code>"), html)
    html = _INLINE_CODE.sub(lambda m: keep(f"<code>{m.group(1)}</code>"), html)
    html = _URL.sub(lambda m: keep(_link(m.group(0))), html)
    if mentions:
        html = MENTION.sub(lambda m: keep(f'<span class="mention">{m.group(0)}</span>'), html)
    for pattern, tag in _STYLE_PATTERNS:
        html = pattern.sub(lambda m, tag=tag: f"<{tag}>{m.group(1)}</{tag}>", html)
    html = re.sub(r"\x00(\d+)\x00", lambda m: stash[int(m.group(1))], html)
    html = html.replace("\r\n", "\n").replace("\n", "<br>")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )
    return mark_safe(cleaned)  # noqa: S308 - built from escaped text, then cleaned by nh3


# Meta's error codes, in words for the staff member who has to act on them.
ERROR_REASONS = {
    131047: "More than 24 hours have passed since the customer last wrote: send a template.",
    131026: "WhatsApp could not deliver it: the number may not be on WhatsApp or uses an old app.",
    131049: "WhatsApp held it back to protect the customer's experience; try again in a day.",
    131050: "The customer has stopped marketing messages from this business.",
    131051: "WhatsApp does not support this type of message.",
    131052: "The media could not be downloaded.",
    131053: "The media could not be uploaded to WhatsApp.",
    131056: "Too many messages to this customer in a short time; retry in a moment.",
    130429: "The business number's sending limit was reached; retry shortly.",
    131048: "The number is limited for spam reasons; retry much later.",
    131008: "A required part of the message is missing.",
    131009: "A part of the message is not valid.",
    133010: "The business phone number is not registered with WhatsApp.",
    132000: "The template's parameters do not match it.",
    132001: "The template does not exist in this language.",
    132005: "The template text is too long after the parameters are filled in.",
    132007: "The template breaks WhatsApp's policy.",
    132012: "A template parameter has the wrong format.",
    132015: "The template is paused.",
    132016: "The template is disabled.",
    130472: "The customer's number is part of a WhatsApp experiment.",
    368: "The WhatsApp Business account is restricted for a policy violation.",
    190: "The WhatsApp access token has expired: an administrator must renew it.",
    0: "WhatsApp could not authenticate this system: an administrator must check the token.",
}


def error_reason(message):
    """Why a send failed, in words, from the error code WhatsApp gave."""
    if message.error_code is not None and message.error_code in ERROR_REASONS:
        return ERROR_REASONS[message.error_code]
    detail = message.error_details or message.error_title
    if detail:
        return detail
    if message.error_code is not None:
        return f"WhatsApp refused it (error {message.error_code})."
    return "WhatsApp did not accept the message."
