"""The entity view (the messages about one ERP record, which an ERP page frames) and linking a bubble to a record.

Thin views over links.selectors and links.services; the chat page's helpers (login, parameters,
the composer, a bubble's answer) come from chat.views.
"""

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from chat import forms
from chat.access import get_message_for_user
from chat.views import _bubble_response, _composer_context, _int_param, _is_partial, chat_user_required
from links import selectors
from links.services import InvalidEntity, check_entity, entity_link_create, entity_link_delete


@chat_user_required
@require_POST
def message_link(request, message_id):
    message = get_message_for_user(request.user, message_id)
    form = forms.LinkForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            entity_link_create(
                message=message,
                entity_type=form.cleaned_data["entity_type"],
                entity_id=form.cleaned_data["entity_id"],
                user=request.user,
            )
        except InvalidEntity as invalid:
            error = str(invalid)
    else:
        error = "Choose a record type and enter its id."
    return _bubble_response(request, message.pk, error=error)


@chat_user_required
@require_POST
def message_unlink(request, message_id):
    message = get_message_for_user(request.user, message_id)
    try:
        entity_link_delete(
            message=message,
            entity_type=request.POST.get("entity_type", ""),
            entity_id=request.POST.get("entity_id", ""),
        )
    except InvalidEntity as invalid:
        return _bubble_response(request, message.pk, error=str(invalid))
    response = _bubble_response(request, message.pk)
    return trigger_client_event(response, "chatChanged", {"conversation": message.conversation_id})


@chat_user_required
@require_GET
def entity(request, entity_type, entity_id):
    """The messages linked to one ERP record, grouped by conversation; an ERP page frames it.

    The newest ENTITY_PAGE of them, and a loader for older ones (entity_older).
    """
    entity = _checked_entity(entity_type, entity_id)
    context = _entity_context(request, entity)
    if _is_partial(request):
        return render(request, "links/_entity_groups.html", context)
    return render(request, "links/entity.html", context)


@chat_user_required
@require_GET
def entity_poll(request, entity_type, entity_id):
    """204 while nothing changed; else the groups again, down to the oldest message loaded (`from`)."""
    entity = _checked_entity(entity_type, entity_id)
    cursor = _entity_cursor(entity)
    if request.GET.get("cursor") == cursor:
        return HttpResponse(status=204)
    context = _entity_context(request, entity, cursor=cursor, down_to=_int_param(request, "from"))
    return render(request, "links/_entity_groups.html", context)


@chat_user_required
@require_GET
def entity_older(request, entity_type, entity_id):
    """The ENTITY_PAGE linked messages before `before`: into their groups when shown, else as new groups below."""
    entity = _checked_entity(entity_type, entity_id)
    before = _int_param(request, "before")
    if before is None:
        raise BadRequest("before is required.")
    groups, has_more, oldest_id = selectors.entity_messages(
        entity_type=entity[0], entity_id=entity[1], before_id=before
    )
    shown = selectors.entity_conversations_shown(
        entity_type=entity[0], entity_id=entity[1], conversation_ids=[c.pk for c, _ in groups], from_id=before
    )
    context = {
        "entity": entity,
        "into_shown": [group for group in groups if group[0].pk in shown],
        "new_groups": [group for group in groups if group[0].pk not in shown],
        "has_more": has_more,
        "oldest_id": oldest_id,
        "poll_from": oldest_id,
        # The poll keeps what is loaded now; its change cursor stays the page's.
        "cursor": request.GET.get("cursor", "")[:200],
        "poll_seconds": settings.CHAT_POLL_SECONDS,
    }
    return render(request, "links/_entity_older.html", context)


def _checked_entity(entity_type, entity_id):
    try:
        return check_entity(entity_type, entity_id)
    except InvalidEntity as invalid:
        raise Http404(str(invalid)) from None


def _entity_cursor(entity):
    values = selectors.entity_cursor(entity_type=entity[0], entity_id=entity[1])
    changed = values["changed"].isoformat() if values["changed"] else ""
    return f"{values['links']}.{values['newest_link'] or 0}.{changed}"


def _entity_context(request, entity, cursor=None, down_to=None):
    groups, has_more, oldest_id = selectors.entity_messages(
        entity_type=entity[0], entity_id=entity[1], down_to_id=down_to
    )
    context = {
        "entity": entity,
        "groups": groups,
        "has_more": has_more,
        "oldest_id": oldest_id,
        # Once older pages are loaded, the poll re-renders down to the oldest of them.
        "poll_from": oldest_id if down_to is not None else None,
        "cursor": cursor or _entity_cursor(entity),
        "poll_seconds": settings.CHAT_POLL_SECONDS,
    }
    if groups and request.GET.get("composer") != "0":
        context.update(_composer_context(groups[0][0], entity=entity))
    return context
