"""The staff chat page: thin views over chat.selectors (reads) and chat.services (writes).

Every view renders named partials (templates/chat/_*.html), so a full page and
an HTMX swap show the same markup. Polls carry a cursor and answer 204 when
nothing changed.
"""

import json
import re
import uuid
from datetime import UTC, datetime
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import BadRequest
from django.db.models import Max
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from chat import exports, forms, services
from chat.access import get_conversation_for_user, get_message_for_user, require_chat_user, visible_conversations
from chat.canned import canned_fill, record_for
from chat.media_rules import accept_attribute, browser_rules
from chat.message_templates import (
    TemplateRefused,
    template_fields,
    template_preview,
    template_send,
    template_start,
    templates_sync_request,
)
from chat.models import Agent, Conversation, Label, Message, MessageTemplate, Team
from chat.phones import InvalidPhone, looks_like_phone, normalize_phone, phone_display
from chat.poll_pass import poll_is_idle, poll_pass_issue, poll_pass_read
from chat.presence import presence_mark, presence_sentence
from chat.rich_messages import LIMITS as RICH_LIMITS
from chat.rich_messages import RichRefused, list_rows
from chat.selectors.canned import canned_responses_for
from chat.selectors.conversations import (
    CURSOR_SLACK,
    SIDEBAR_LIMIT,
    SIDEBAR_MAX,
    InboxFilter,
    conversation_for_phone,
    conversation_list,
    conversations_changed_since,
    cursor_now,
    inbox_counts,
    new_chat_offer,
    notify_state,
)
from chat.selectors.messages import (
    first_contact_at,
    message_around,
    message_for_bubble,
    message_history,
    message_newer,
    messages_changed,
    messages_for_export,
)
from chat.selectors.search import message_search
from chat.selectors.templates import approved_templates
from chat.services import inbox, notes
from chat.services.inbox import agent_by_id
from chat.services.notes import mentions_seen
from integrations.templates import templates_sync_now
from links.selectors import conversation_records
from links.services import InvalidEntity, check_entity

BIGGEST_ID = 2**63 - 1  # ids are 64-bit

# Served inline only when the browser cannot run them; anything else downloads.
INLINE_MEDIA = {
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "video/mp4",
    "video/3gpp",
    "audio/aac",
    "audio/amr",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "audio/opus",
}


def chat_user_required(view):
    """Logged in with the chat permission; an HTMX request from an expired session goes to the login page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:
                return HttpResponseClientRedirect(f"{reverse(settings.LOGIN_URL)}?next={reverse('chat:page')}")
            return redirect_to_login(request.get_full_path())
        require_chat_user(request.user)
        return view(request, *args, **kwargs)

    return wrapper


def _int_param(request, name, default=None):
    value = request.GET.get(name, "")
    if value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number.") from None
    if not 0 <= number <= BIGGEST_ID:
        raise BadRequest(f"{name} must be between 0 and {BIGGEST_ID}.")
    return number


def _time_param(request, name):
    value = request.GET.get(name, "")
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 time.") from None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _is_partial(request):
    return request.htmx and not request.htmx.history_restore_request


def _base_context(request):
    return {
        "poll_seconds": settings.CHAT_POLL_SECONDS,
        "background_poll_seconds": settings.CHAT_BACKGROUND_POLL_SECONDS,
        "query": request.GET.get("q", "")[:100],
    }


def _sidebar_context(request, active_id=None):
    query = request.GET.get("q", "")[:100]
    # "Show more" raises the limit; the poll carries it, so loaded rows stay on screen.
    limit = min(max(_int_param(request, "limit", SIDEBAR_LIMIT), 1), SIDEBAR_MAX)
    inbox = InboxFilter(
        request.GET.get("status", "open"), request.GET.get("owner", "all"), label=request.GET.get("label", "")
    )
    visible = visible_conversations(request.user)
    conversations = conversation_list(query=query, limit=limit, user=request.user, inbox=inbox, visible=visible)
    counts = inbox_counts(user=request.user, visible=visible)
    full = len(conversations) == limit < SIDEBAR_MAX
    return {
        "notify_state": json.dumps(
            notify_state(user=request.user, visible=visible, mentions=counts["latest_mentions"])
        ),
        "conversations": conversations,
        "inbox": inbox,
        "inbox_counts": counts,
        "inbox_statuses": Conversation.Status.choices,
        "inbox_owners": [
            ("mine", "Mine", counts["mine"]),
            ("unassigned", "Unassigned", counts["unassigned"]),
            ("all", "All", counts["all"]),
            *(
                (f"team:{team.pk}", team.name, counts["teams"].get(team.pk, 0))
                for team in Team.objects.order_by("name")
            ),
        ],
        "inbox_labels": list(Label.objects.all()),
        "new_chat_offer": new_chat_offer(query),
        # Words in messages, across every status the user may see: not for a number being typed.
        "message_hits": message_search(query=query, visible=visible) if not looks_like_phone(query) else [],
        "active_id": active_id,
        "sidebar_since": cursor_now(),
        "sidebar_limit": limit,
        "sidebar_more": limit + SIDEBAR_LIMIT if full else None,
    }


def _window_open(conversation):
    return conversation.service_window_open() or not settings.WHATSAPP_ENFORCE_SERVICE_WINDOW


def _composer_context(conversation, *, form=None, entity=None, template_form=None, error="", to=None, reply_to=None):
    """The composer of `conversation`, or (conversation None) of a new chat with the number `to`.

    After a refused send, template_form brings back the chosen template and what was typed, and
    reply_to the message the text was quoting.
    """
    window_open = conversation is not None and _window_open(conversation)
    chosen = template_form.cleaned_data.get("template") if template_form is not None else None
    if template_form is not None and chosen is None:
        chosen = _template_chosen(template_form.data.get("template"))
    send_url = reverse("chat:message_send", args=[conversation.pk]) if conversation else reverse("chat:new_chat_send")
    templates = [] if window_open else approved_templates()
    return {
        "conversation": conversation,
        "new_chat_to": to,
        "send_url": send_url,
        "window_open": window_open,
        "templates": templates,
        # A fresh install has none until a sync: the worker is asked (at most every few minutes).
        "sync_requested": not window_open and not templates and templates_sync_request(),
        "form": form,
        "template_form": template_form,
        **(_template_fields_context(chosen, template_form.data) if chosen else {"template": None}),
        "entity": entity,
        "error": error,
        "idempotency_key": uuid.uuid4().hex,
        "note_key": uuid.uuid4().hex,
        "media_rules": browser_rules(),
        "body_max": forms.BODY_MAX,
        "rich_limits": RICH_LIMITS,
        "media_accept": accept_attribute(),
        "entity_types": settings.ENTITY_TYPES,
        "reply_to": reply_to,
    }


def _template_chosen(value):
    value = str(value or "")
    if not value.isdigit() or len(value) > 18:
        return None
    return MessageTemplate.objects.filter(pk=int(value), status="APPROVED").first()


def _template_fields_context(template, data=None):
    """The template's preview and its inputs, holding what was typed (`data`) after a refused send."""
    data = data or {}
    fields = template_fields(template.components)
    return {
        "template": template,
        "preview": template_preview(template.components),
        "fields": [(field, str(data.get(field.key, ""))[:1024]) for field in fields],
        "media_accept": accept_attribute(),
    }


def _pane_context(conversation, since, found=None):
    """The pane: the newest bubbles, or (found, a search hit's id) a window on the history at that message."""
    newest = Message.objects.filter(conversation=conversation).aggregate(newest=Max("id"))["newest"] or 0
    has_newer = False
    if found is not None:
        messages, has_more, has_newer = message_around(conversation=conversation, message_id=found)
        found = found if any(m.pk == found for m in messages) else None
    else:
        messages, has_more = message_history(conversation=conversation)
    return {
        "conversation": conversation,
        "messages": messages,
        "has_more": has_more,
        "oldest_id": messages[0].pk if messages else 0,
        "has_newer": has_newer,
        "newest_shown": messages[-1].pk if messages else 0,
        "found_id": found,
        "after": newest,
        "since": since,
        "reaction_emojis": services.REACTION_EMOJIS,
        **_composer_context(conversation),
    }


@chat_user_required
@require_GET
def page(request):
    context = {**_base_context(request), **_sidebar_context(request), **_bell_context(request.user)}
    return render(request, "chat/page.html", context)


@chat_user_required
@require_GET
def sidebar(request):
    """The conversation list: a search, or the sidebar's poll (204 when nothing changed)."""
    since = _time_param(request, "since")
    if since is not None and not conversations_changed_since(since=since):
        return HttpResponse(status=204)
    active_id = _int_param(request, "active")
    context = {**_base_context(request), **_sidebar_context(request, active_id)}
    return render(request, "chat/_conversation_list.html", context)


@chat_user_required
@require_GET
@vary_on_headers("HX-Request")
def conversation(request, pk):
    """Open a conversation: the pane (and the sidebar, out of band) for HTMX, else the whole page."""
    return _conversation_response(request, get_conversation_for_user(request.user, pk))


def _conversation_response(request, chat):
    since = cursor_now()
    services.conversation_mark_read(conversation=chat, user=request.user)
    mentions_seen(conversation=chat, user=request.user)
    context = {
        **_base_context(request),
        **_sidebar_context(request, chat.pk),
        **_pane_context(chat, since, found=_int_param(request, "message")),
        "poll_pass": poll_pass_issue(request, chat),
    }
    if _is_partial(request):
        return render(request, "chat/_pane_swap.html", context)
    return render(request, "chat/page.html", {**context, **_bell_context(request.user)})


@require_GET
def conversation_poll(request, pk):
    """New bubbles appended, changed ones replaced in place; 204 when nothing changed.

    An idle poll with a valid pass is answered from the cache alone (chat.poll_pass);
    every other poll logs in, checks the permission and reads the conversation.
    """
    window_ends = poll_pass_read(request, pk)
    if window_ends is not None and _poll_is_idle(request, pk, window_ends):
        return HttpResponse(status=204)
    return _conversation_poll(request, pk, has_pass=window_ends is not None)


def _poll_is_idle(request, pk, window_ends):
    try:
        since = _time_param(request, "since")
    except BadRequest:
        return False  # the full path answers it, after the login check
    was_open = request.GET.get("open") == "1"
    return since is not None and poll_is_idle(
        conversation_id=pk, window_ends=window_ends, since=since, was_open=was_open
    )


@chat_user_required
def _conversation_poll(request, pk, *, has_pass):
    since = _time_param(request, "since")
    after = _int_param(request, "after", 0)
    was_open = request.GET.get("open") == "1"
    now = cursor_now()
    chat = get_conversation_for_user(request.user, pk)
    new, changed, newest = messages_changed(conversation=chat, after_id=after, since=since)
    header_changed = since is None or chat.updated_at > since - CURSOR_SLACK
    window_changed = _window_open(chat) != was_open
    # A page whose pass expired gets a fresh one (the sentinel alone) rather than a 204 that keeps the old.
    renew_pass = "pass" in request.GET and not has_pass
    if not (new or changed or header_changed or window_changed or renew_pass):
        return HttpResponse(status=204)
    # The composer (and its templates) is only re-rendered when the window opened or closed.
    composer = _composer_context(chat) if window_changed else {"window_open": was_open}
    if chat.unread_count and any(m.direction == Message.Direction.INBOUND for m in new):
        # The agent is looking at the conversation: what arrives is read.
        services.conversation_mark_read(conversation=chat, user=request.user)
    if any(m.message_type == Message.Type.NOTE for m in new):
        mentions_seen(conversation=chat, user=request.user)
    context = {
        **composer,
        "conversation": chat,
        "new": new,
        "changed": changed,
        "after": newest,
        "since": now,
        "header_changed": header_changed,
        "window_changed": window_changed,
        "poll_seconds": settings.CHAT_POLL_SECONDS,
        "poll_pass": poll_pass_issue(request, chat),
    }
    response = render(request, "chat/_poll.html", context)
    if new or changed:  # the sidebar's row (preview, ticks, badge) follows the pane now, not a poll later
        trigger_client_event(response, "chatSidebarStale")
    return response


@chat_user_required
@require_GET
def conversation_older(request, pk):
    """The 50 bubbles before `before`, and a loader for more while there are more."""
    chat = get_conversation_for_user(request.user, pk)
    before = _int_param(request, "before")
    if before is None:
        raise BadRequest("before is required.")
    messages, has_more = message_history(conversation=chat, before_id=before)
    context = {
        "conversation": chat,
        "messages": messages,
        "has_more": has_more,
        "oldest_id": messages[0].pk if messages else before,
    }
    return render(request, "chat/_older.html", context)


@chat_user_required
@require_GET
def conversation_newer(request, pk):
    """Below a search hit: the 50 bubbles after `after` up to `upto` (the newest when the page opened)."""
    chat = get_conversation_for_user(request.user, pk)
    after, upto = _int_param(request, "after"), _int_param(request, "upto")
    if after is None or upto is None:
        raise BadRequest("after and upto are required.")
    messages, has_newer = message_newer(conversation=chat, after_id=after, upto_id=upto)
    context = {
        "conversation": chat,
        "messages": messages,
        "has_newer": has_newer,
        "newest_shown": messages[-1].pk if messages else after,
        "after": upto,
    }
    return render(request, "chat/_newer.html", context)


@chat_user_required
@require_GET
def composer(request, pk):
    """A conversation's composer, optionally linking what it sends to one record (the entity view)."""
    chat = get_conversation_for_user(request.user, pk)
    entity = _entity_param(request.GET)
    return render(request, "chat/_composer.html", _composer_context(chat, entity=entity))


def _entity_param(data):
    if not data.get("entity_type"):
        return None
    try:
        return check_entity(data.get("entity_type"), data.get("entity_id"))
    except InvalidEntity as error:
        raise BadRequest(str(error)) from None


@chat_user_required
@require_GET
def template_fields_view(request):
    """The preview and parameter inputs of the template chosen in a composer (any conversation's, or a new chat's)."""
    template = _template_chosen(request.GET.get("template"))
    context = _template_fields_context(template) if template else {"template": None}
    return render(request, "chat/_template_fields.html", context)


# "/" at the very start of the composer, then the shortcut typed so far (nothing else, no second line).
CANNED_TYPED = re.compile(r"/([A-Za-z0-9_-]{0,32})")


@chat_user_required
@require_GET
def canned_suggestions(request, pk):
    """The composer's "/" menu: the canned responses for what was typed, filled for this conversation."""
    chat = get_conversation_for_user(request.user, pk)
    typed = CANNED_TYPED.fullmatch(request.GET.get("body", "")[:40])
    if typed is None:
        return render(request, "chat/_canned_list.html", {"conversation": chat, "options": []})
    record = record_for(conversation=chat, entity=_entity_param(request.GET))
    responses = canned_responses_for(user=request.user, prefix=typed.group(1))
    options = [
        (response, canned_fill(response.text, conversation=chat, agent=request.user, record=record))
        for response in responses
    ]
    context = {"conversation": chat, "options": options, "typed": typed.group(0)}
    return render(request, "chat/_canned_list.html", context)


@chat_user_required
@require_POST
def templates_sync_view(request):
    """The composer's "Sync templates" button: copy the templates from WhatsApp now, and show the list again."""
    count, sentence = templates_sync_now()
    if not request.htmx:  # a plain form post: back to where the button was
        back = request.headers.get("Referer", "")
        safe = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})
        return redirect(back if safe else reverse("chat:page"))
    context = {
        "templates": approved_templates(),
        "template": None,
        "sync_sentence": sentence,
        "sync_failed": count is None,
    }
    return render(request, "chat/_template_picker.html", context)


@chat_user_required
@require_POST
def message_send(request, pk):
    """Queue a text, a file with its caption, or a template; answer with a fresh composer."""
    chat = get_conversation_for_user(request.user, pk)
    entity = _entity_param(request.POST)
    is_template = "template" in request.POST
    rich_kind = request.POST.get("kind", "") if request.POST.get("kind", "") in forms.RICH_KINDS else ""
    form_class = forms.TemplateSendForm if is_template else forms.RichSendForm if rich_kind else forms.SendForm
    form = form_class(request.POST, request.FILES)
    error = refused_field = ""
    reply_to = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            if rich_kind:
                _queue_rich(chat, request.user, request.POST, entity or data["entity"], data)
            else:
                reply_to = None if is_template else _reply_to(chat, request.POST)
                _queue(chat, request.user, data, entity or data["entity"], is_template, reply_to)
        except RichRefused as refused:
            error, refused_field = refused.reason, refused.field
        except (services.SendRefused, TemplateRefused) as refused:
            error = refused.reason
        except InvalidEntity as invalid:
            error = str(invalid)
        else:
            if not _is_partial(request):
                return redirect("chat:conversation", pk=chat.pk)
            response = render(request, "chat/_composer.html", _composer_context(chat, entity=entity))
            return trigger_client_event(response, "chatChanged", {"conversation": chat.pk})
    else:
        error = _form_error(form)
    context = _composer_context(
        chat,
        entity=entity,
        form=None if is_template or rich_kind else form,
        template_form=form if is_template else None,
        error=error,
        reply_to=reply_to,
    )
    if rich_kind:  # the attach menu's form opens again, holding what was typed, the refused field marked
        context.update(rich=request.POST, rich_kind=rich_kind, rich_field=refused_field)
    return render(request, "chat/_composer.html", context, status=422 if not _is_partial(request) else 200)


def _form_error(form):
    return " ".join(form.non_field_errors()) or " ".join(
        f"{name.replace('_', ' ').capitalize()}: {' '.join(errors)}" for name, errors in form.errors.items()
    )


def _template_send_fields(data):
    return {
        "template": data["template"],
        "parameters": data["parameters"],
        "header_file": data.get("header_file"),
        "idempotency_key": data["idempotency_key"],
    }


def _message_in(chat, value):
    """The message of `chat` whose id a form posted, or None."""
    value = str(value or "")
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        return None
    return Message.objects.filter(pk=int(value), conversation=chat).first()


def _reply_to(chat, data):
    """The message a composer's send quotes (its `reply_to` field, a message id in this conversation)."""
    if not data.get("reply_to"):
        return None
    message = _message_in(chat, data["reply_to"])
    if message is None:
        raise services.SendRefused("The message to reply to is not in this conversation.", code="not_quotable")
    return message


def _queue(chat, user, data, entity, is_template, reply_to=None):
    if is_template:
        return template_send(conversation=chat, author=user, entity=entity, **_template_send_fields(data))
    common = {
        "conversation": chat,
        "author": user,
        "entity": entity,
        "idempotency_key": data["idempotency_key"],
        "reply_to": reply_to,
    }
    upload = data.get("file")
    if upload is not None:
        return services.message_queue(
            message_type=data["message_type"],
            caption=data["body"],
            file=upload,
            file_name=upload.name[:255],
            mime_type=data["mime_type"],
            **common,
        )
    return services.message_send_text(body=data["body"], **common)


def _queue_rich(chat, user, post, entity, data):
    """The attach menu's location, contact card, reply buttons or list (chat.rich_messages checks each field)."""
    common = {"conversation": chat, "author": user, "entity": entity, "idempotency_key": data["idempotency_key"]}
    kind = data["kind"]
    if kind == "location":
        return services.message_send_location(
            latitude=post.get("location_latitude", ""),
            longitude=post.get("location_longitude", ""),
            name=post.get("location_name", ""),
            address=post.get("location_address", ""),
            **common,
        )
    if kind == "contact":
        return services.message_send_contact(
            name=post.get("contact_name", ""),
            phone=post.get("contact_phone", ""),
            email=post.get("contact_email", ""),
            org=post.get("contact_org", ""),
            **common,
        )
    if kind == "buttons":
        titles = [post.get(f"button_{n}", "") for n in range(1, RICH_LIMITS["buttons_max"] + 2)]
        return services.message_send_buttons(
            body=post.get("buttons_body", ""), titles=titles, footer=post.get("buttons_footer", ""), **common
        )
    return services.message_send_list(
        body=post.get("list_body", ""),
        button=post.get("list_button", ""),
        rows=list_rows(post.get("list_rows", "")),
        footer=post.get("list_footer", ""),
        **common,
    )


# --- Starting a conversation: a number nobody has a conversation with, and a first template -----------


def _new_chat_context(request, *, to="", entity=None, error="", template_form=None):
    """The new-chat pane: the number form, and once `to` is a number with no conversation, its composer."""
    context = {"new_chat": True, "typed": to[:40], "entity": entity, "new_chat_error": error}
    if to and not error:
        context.update(_composer_context(None, to=to, entity=entity, template_form=template_form))
        context.update(new_chat_display=phone_display(to), error=error)
        query = request.GET.get("q", "")[:100]
        if query:  # the sidebar that comes back with the new conversation keeps the search shown
            context["send_url"] += f"?{urlencode({'q': query})}"
    return context


def _new_chat_response(request, context, status=200):
    if _is_partial(request):
        response = render(request, "chat/_new_chat.html", context, status=status)
        # The number form and a composer's refused send both answer with the whole new-chat block.
        response["HX-Retarget"] = "#new-chat" if context.get("entity") else "#pane"
        response["HX-Reswap"] = "outerHTML"
        return response
    if context.get("entity"):  # the entity view without JavaScript: the same partial on a page of its own
        return render(request, "chat/new_chat_page.html", context, status=status)
    page_context = {**_base_context(request), **_sidebar_context(request), **_bell_context(request.user), **context}
    return render(request, "chat/page.html", page_context, status=status)


def _existing_conversation(user, text):
    """The visible conversation with this number or WhatsApp user id, or None when there is none."""
    found = conversation_for_phone(text)
    return get_conversation_for_user(user, found.pk) if found is not None else None


@chat_user_required
@require_GET
def new_chat(request):
    """Start a conversation: ask for a number; a number with a conversation opens it, a new one gets a composer.

    With entity_type and entity_id (the entity view), what is sent is linked to that record.
    """
    entity = _entity_param(request.GET)
    typed = request.GET.get("to", "").strip()[:100]
    if not typed:
        return _new_chat_response(request, _new_chat_context(request, entity=entity))
    existing = _existing_conversation(request.user, typed)
    if existing is not None:
        if entity is not None:
            context = {
                "new_chat": True,
                "typed": typed,
                "existing": existing,
                **_composer_context(existing, entity=entity),
            }
            return _new_chat_response(request, context)
        return _into_pane(request, _conversation_response(request, existing), existing)
    try:
        phone = normalize_phone(typed)
    except InvalidPhone as invalid:
        return _new_chat_response(request, _new_chat_context(request, to=typed, entity=entity, error=str(invalid)))
    return _new_chat_response(request, _new_chat_context(request, to=phone, entity=entity))


@chat_user_required
@require_POST
def new_chat_send(request):
    """Send the first template to a number; its conversation is created with the send, or not at all."""
    entity = _entity_param(request.POST)
    typed = request.POST.get("to", "").strip()[:100]
    try:
        phone = normalize_phone(typed)
    except InvalidPhone as invalid:
        return _new_chat_response(
            request, _new_chat_context(request, to=typed, entity=entity, error=str(invalid)), status=_refused(request)
        )
    existing = _existing_conversation(request.user, phone)  # 404 when it is a colleague's to see
    form = forms.TemplateSendForm(request.POST, request.FILES)
    error = ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            message = template_start(
                phone=phone, author=request.user, entity=entity or data["entity"], **_template_send_fields(data)
            )
        except (services.SendRefused, TemplateRefused) as refused:
            error = refused.reason
        except InvalidEntity as invalid:
            error = str(invalid)
        else:
            return _started_response(request, message.conversation, entity)
    else:
        error = _form_error(form)
    context = _new_chat_context(request, to=phone, entity=entity, template_form=form)
    if existing is not None:
        context.update(_composer_context(existing, entity=entity, template_form=form), existing=existing)
    context["error"] = error
    return _new_chat_response(request, context, status=_refused(request))


def _refused(request):
    return 200 if _is_partial(request) else 422


def _started_response(request, chat, entity):
    """After the first send: the new conversation in the pane (the entity view: "Sent", and its start form again)."""
    if entity is not None:
        if not _is_partial(request):
            return redirect("links:entity", entity_type=entity[0], entity_id=entity[1])
        context = {"new_chat": True, "started": chat, "entity": entity, "typed": ""}
        response = _new_chat_response(request, context)
        return trigger_client_event(response, "chatChanged", {"conversation": chat.pk})
    if not _is_partial(request):
        return redirect("chat:conversation", pk=chat.pk)
    response = _into_pane(request, _conversation_response(request, chat), chat)
    return trigger_client_event(response, "chatChanged", {"conversation": chat.pk})


def _into_pane(request, response, chat):
    """A conversation answering a new-chat form: it replaces the whole pane, and the address becomes its own."""
    if _is_partial(request):
        response["HX-Retarget"] = "#pane"
        response["HX-Reswap"] = "outerHTML"
        response["HX-Push-Url"] = reverse("chat:conversation", args=[chat.pk])
    return response


def _bubble_response(request, message_id, status=200, error=""):
    message = message_for_bubble(message_id=message_id)
    if message is None:
        raise Http404
    if not request.htmx:  # a plain form post: back to the conversation
        return redirect("chat:conversation", pk=message.conversation_id)
    return render(request, "chat/_message.html", {"message": message, "action_error": error}, status=status)


@chat_user_required
@require_POST
def message_retry(request, message_id):
    """Send a failed message again; the failed bubble says so, the new one arrives by poll."""
    message = get_message_for_user(request.user, message_id)
    error = ""
    try:
        services.message_retry(message=message, author=request.user)
    except services.SendRefused as refused:
        error = refused.reason
    response = _bubble_response(request, message.pk, error=error)
    return trigger_client_event(response, "chatChanged", {"conversation": message.conversation_id})


@chat_user_required
@require_POST
def message_react(request, pk):
    """React to a message of the conversation (the `message` field) with `emoji` ("" removes ours);
    answers with its bubble, the reaction on it."""
    chat = get_conversation_for_user(request.user, pk)
    message = _message_in(chat, request.POST.get("message"))
    if message is None:
        raise Http404
    message.conversation = chat
    error = ""
    try:
        services.message_react(message=message, author=request.user, emoji=request.POST.get("emoji", "")[:16])
    except services.SendRefused as refused:
        error = refused.reason
    response = _bubble_response(request, message.pk, error=error)
    return trigger_client_event(response, "chatChanged", {"conversation": chat.pk})


@chat_user_required
@require_GET
def media(request, message_id):
    """A message's stored file, only to chat users, never from a public path."""
    message = get_message_for_user(request.user, message_id)
    if not message.file:
        raise Http404("This message has no stored file (yet).")
    try:
        handle = message.file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404("The file is missing from storage.") from None
    mime = (message.mime_type or "application/octet-stream").split(";")[0].strip().lower()
    inline = mime in INLINE_MEDIA and message.message_type != Message.Type.DOCUMENT
    name = message.file_name or message.file.name.rsplit("/", 1)[-1]
    response = FileResponse(handle, content_type=mime, as_attachment=not inline, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    # Even a mislabelled file cannot run script in this site's origin.
    response["Content-Security-Policy"] = "default-src 'none'; media-src 'self'; img-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- The team's work on a conversation: its owner and its status -------------------------------


def _header_response(request, chat, error=""):
    if not request.htmx:  # a plain form post: back to the conversation
        return redirect("chat:conversation", pk=chat.pk)
    chat = get_conversation_for_user(request.user, chat.pk)
    response = render(request, "chat/_pane_header.html", {"conversation": chat, "header_error": error})
    return trigger_client_event(response, "chatChanged", {"conversation": chat.pk})


@chat_user_required
@require_GET
def conversation_assignees(request, pk):
    """The assign menu's choices, loaded when it opens: every colleague who can chat, and the teams."""
    chat = get_conversation_for_user(request.user, pk)
    context = {"conversation": chat, "agents": inbox.assignable_agents(), "teams": Team.objects.order_by("name")}
    return render(request, "chat/_assign_menu.html", context)


@chat_user_required
@require_POST
def conversation_assign(request, pk):
    """Assign, transfer or unassign the conversation (`assignee`), or give it to a team (`team`).

    Each field left out keeps its value; an empty one clears it.
    """
    chat = get_conversation_for_user(request.user, pk)
    data = request.POST
    error = ""
    try:
        assignee = team = inbox.UNCHANGED
        if "assignee" in data:
            assignee = agent_by_id(data["assignee"]) if data["assignee"] else None
        if "team" in data:
            team = inbox.team_by_id(data["team"]) if data["team"] else None
        inbox.conversation_assign(conversation=chat, actor=request.user, assignee=assignee, team=team)
    except inbox.InboxRefused as refused:
        error = refused.sentence
    return _header_response(request, chat, error)


def _snooze_until(data):
    """The snooze's end from the menu: one of its choices, or the date and time picked (local time)."""
    if data.get("snooze"):
        return inbox.snooze_end(data["snooze"])
    try:
        picked = datetime.fromisoformat(data.get("until", ""))
    except ValueError:
        raise inbox.InboxRefused("until", "Pick the date and time the snooze ends.") from None
    return picked if timezone.is_aware(picked) else timezone.make_aware(picked)


@chat_user_required
@require_POST
def conversation_status(request, pk):
    """Resolve, snooze or reopen the conversation."""
    chat = get_conversation_for_user(request.user, pk)
    status = request.POST.get("status", "")
    error = ""
    try:
        until = _snooze_until(request.POST) if status == Conversation.Status.SNOOZED else None
        inbox.conversation_set_status(conversation=chat, actor=request.user, status=status, until=until)
    except inbox.InboxRefused as refused:
        error = refused.sentence
    return _header_response(request, chat, error)


@chat_user_required
@require_POST
def conversation_unread(request, pk):
    """Mark the conversation unread and close it, so its badge stays until someone opens it again."""
    chat = get_conversation_for_user(request.user, pk)
    inbox.conversation_mark_unread(conversation=chat)
    if not request.htmx:
        return redirect("chat:page")
    context = {**_base_context(request), **_sidebar_context(request), "conversation": None}
    response = render(request, "chat/_pane_swap.html", context)
    response["HX-Push-Url"] = reverse("chat:page")
    return trigger_client_event(response, "chatChanged", {"conversation": chat.pk})


# --- Labels, the contact's details, the export ------------------------------------------------


@chat_user_required
@require_GET
def conversation_labels(request, pk):
    """The labels menu's choices, loaded when it opens: every label, those on the conversation marked."""
    chat = get_conversation_for_user(request.user, pk)
    on = set(chat.labels.values_list("pk", flat=True))
    context = {"conversation": chat, "choices": [(label, label.pk in on) for label in Label.objects.all()]}
    return render(request, "chat/_label_menu.html", context)


@chat_user_required
@require_POST
def conversation_label(request, pk):
    """Put a label on the conversation (`label`: its id), or take one off (`remove`: its id)."""
    chat = get_conversation_for_user(request.user, pk)
    error = ""
    removing = "remove" in request.POST
    try:
        label = inbox.label_by_id(request.POST.get("remove" if removing else "label", ""))
        change = inbox.conversation_label_remove if removing else inbox.conversation_label_add
        change(conversation=chat, actor=request.user, label=label)
    except inbox.InboxRefused as refused:
        error = refused.sentence
    return _header_response(request, chat, error)


@chat_user_required
@require_GET
def conversation_contact(request, pk):
    """The contact panel, loaded when it opens: number or user id, first contact, labels, linked records."""
    chat = get_conversation_for_user(request.user, pk)
    context = {
        "conversation": chat,
        "first_contact": first_contact_at(conversation=chat),
        "labels": chat.labels.all(),
        "records": conversation_records(conversation=chat),
    }
    return render(request, "chat/_contact_panel.html", context)


@chat_user_required
@require_POST
def conversation_rename(request, pk):
    """Set the name staff know the contact by (empty: the WhatsApp profile name again)."""
    chat = get_conversation_for_user(request.user, pk)
    error = ""
    try:
        inbox.conversation_rename(conversation=chat, actor=request.user, name=request.POST.get("display_name", ""))
    except inbox.InboxRefused as refused:
        error = refused.sentence
    return _header_response(request, chat, error)


@chat_user_required
@require_GET
def conversation_transcript(request, pk):
    """A printable transcript (the browser prints it to PDF), streamed a message at a time, autoescaped."""
    chat = get_conversation_for_user(request.user, pk)
    context = {"conversation": chat, "printed_at": timezone.now()}
    head, row, foot = (get_template(f"chat/transcript_{part}.html") for part in ("head", "row", "foot"))

    def pieces():
        yield head.render(context, request)
        for message in messages_for_export(conversation=chat):
            yield row.render({"conversation": chat, "message": message})
        yield foot.render(context, request)

    response = StreamingHttpResponse(pieces(), content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response


@chat_user_required
@require_GET
def conversation_export_csv(request, pk):
    """The conversation as CSV, streamed in keyset batches; formula-like cells neutralised."""
    chat = get_conversation_for_user(request.user, pk)
    response = StreamingHttpResponse(exports.csv_lines(conversation=chat), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{exports.export_file_name(chat, "csv")}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- Among staff: notes, who else is here, how they hear about it ------------------------------


@chat_user_required
@require_POST
def note_add(request, pk):
    """Add a private note to the thread (never sent to WhatsApp); it arrives in the thread by poll."""
    chat = get_conversation_for_user(request.user, pk)
    body = request.POST.get("body", "")
    context = {"conversation": chat, "note_key": uuid.uuid4().hex}
    try:
        notes.note_add(
            conversation=chat,
            author=request.user,
            body=body,
            idempotency_key=request.POST.get("idempotency_key", "")[:128] or None,
        )
    except inbox.InboxRefused as refused:
        context.update(note_error=refused.sentence, note_body=body[: notes.NOTE_MAX])
        return render(request, "chat/_note_composer.html", context, status=200 if _is_partial(request) else 422)
    if not _is_partial(request):
        return redirect("chat:conversation", pk=chat.pk)
    response = render(request, "chat/_note_composer.html", context)
    return trigger_client_event(response, "chatChanged", {"conversation": chat.pk})


@chat_user_required
@require_POST
def conversation_presence(request, pk):
    """An open pane reports itself (typing=1 while its user types) and learns who else is here."""
    chat = get_conversation_for_user(request.user, pk)
    typing = request.POST.get("typing") == "1"
    others = presence_mark(conversation_id=chat.pk, user=request.user, typing=typing)
    if typing:  # the customer sees "typing…" too (at most every 20 s; see the service)
        services.conversation_typing_indicator(conversation=chat)
    return render(request, "chat/_presence.html", {"presence": presence_sentence(others)})


def _bell_context(user):
    agent = Agent.objects.filter(user=user).first()
    return {"agent": agent or Agent(user=user)}


@chat_user_required
@require_POST
def notification_settings(request):
    """The bell's switches: desktop notifications and sound, saved per user."""
    agent = inbox.agent_preferences_set(
        user=request.user,
        desktop_notifications=request.POST.get("desktop_notifications") == "on",
        sound=request.POST.get("sound") == "on",
    )
    if not _is_partial(request):
        return redirect("chat:page")
    return render(request, "chat/_bell.html", {"agent": agent})
