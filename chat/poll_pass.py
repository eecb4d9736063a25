"""A pass that lets an idle conversation poll answer 204 from the cache alone.

Every render of a conversation's poll sentinel carries a pass: the conversation's
id and the end of its 24-hour window, signed with SECRET_KEY (django.core.signing)
and tied to the session cookie it was issued to. A poll that shows a valid pass,
whose cursor the conversation's change mark (chat.changes) proves current, and
whose window has neither opened nor closed, is answered 204 without loading the
session, the user or any row. Anything else takes the ordinary way: login,
permission, the conversation row, and a fresh pass with the answer.

Why this is safe, clause by clause (each has its test in chat/tests/test_poll_pass.py):

1. Signature. A pass is signed with SECRET_KEY under its own salt; a forged or
   altered one is no pass, and the poll goes the ordinary way.
2. Session. A pass names a keyed hash of the session cookie it was issued to (not
   the cookie itself, which stays HttpOnly); shown with no cookie or another
   session's, it is no pass.
3. Conversation. A pass names one conversation; shown on another's poll, it is no pass.
4. Expiry. A pass lasts CHAT_PERMISSION_CACHE_SECONDS, the delay within which a
   permission change already applies everywhere (chat.access); an expired pass
   is renewed only by the ordinary way, which logs in again.
5. Never a message. The only answer the pass gives is an empty 204, "nothing changed
   in this conversation since your cursor". The moment there is anything to show (a
   message, a change to the conversation, its window opening or closing, its
   deletion) the poll goes the ordinary way, which checks the login and permission.
6. Logout and deactivation. A logged-out or deactivated user's replayed pass (with
   the old cookie) may hear "nothing changed" until the pass expires, as clause 4
   bounds it, and never more: anything to show goes the ordinary way and is refused.

"""

import time

from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

from chat import changes
from chat.selectors.conversations import CURSOR_SLACK

SALT = "chat.poll-pass"


def _session_tag(request):
    """Ties a pass to its session without putting the session key (HttpOnly) into the page."""
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    return salted_hmac(SALT, key).hexdigest()[:20] if key else ""


def poll_pass_issue(request, conversation):
    ends = conversation.service_window_ends_at
    return signing.dumps([conversation.pk, ends.timestamp() if ends else 0, _session_tag(request)], salt=SALT)


def poll_pass_read(request, conversation_id):
    """The window's end (POSIX time, 0 for none) from the request's pass, or None when it has no valid one."""
    token = request.GET.get("pass", "")
    if not token:
        return None
    try:
        pk, window_ends, tag = signing.loads(token, salt=SALT, max_age=settings.CHAT_PERMISSION_CACHE_SECONDS)
        window_ends = float(window_ends)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if pk != conversation_id or not tag or tag != _session_tag(request):
        return None
    return window_ends


def poll_is_idle(*, conversation_id, window_ends, since, was_open):
    """Whether a poll with a valid pass has nothing to show, asking only the cache."""
    is_open = not settings.WHATSAPP_ENFORCE_SERVICE_WINDOW or time.time() < window_ends
    if is_open != was_open:
        return False
    marked_at = changes.messages_marked_at(conversation_id)
    return marked_at is not None and marked_at < since.timestamp() - CURSOR_SLACK.total_seconds()
