"""Reads of canned responses: the ones a user is offered for what they typed after "/"."""

from django.db.models import Q

from chat.models import CannedResponse

SUGGESTIONS_MAX = 8


def canned_responses_for(*, user, prefix="", limit=SUGGESTIONS_MAX):
    """Everyone's canned responses and those of the user's teams, whose shortcut starts with `prefix`."""
    rows = CannedResponse.objects.filter(Q(team=None) | Q(team__members=user)).distinct().select_related("team")
    if prefix:
        rows = rows.filter(shortcut__istartswith=prefix)
    return list(rows.order_by("shortcut")[:limit])
