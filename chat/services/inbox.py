"""The team's work on a conversation: who owns it (an assignee, a team), whether it is done
(open, resolved, snoozed until a time), its labels, the name staff gave the contact, the unread
mark staff set by hand, and the activity line each change leaves in the thread.

Activity lines are Message rows (direction internal, type activity): they page and poll with
the thread, are never sent to WhatsApp and never count as a customer's message.
"""

from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, F, PositiveIntegerField, Q, Value, When
from django.utils import timezone
from django.utils.formats import date_format

from chat import changes
from chat.access import CHAT_PERMISSION, can_use_chat
from chat.models import Agent, Conversation, Label, Mention, Message, Team

SNOOZE_LONGEST = timedelta(days=366)
WAKE_BATCH = 500


class InboxRefused(ValueError):
    """A change to a conversation that cannot be made, with the field at fault and a sentence."""

    def __init__(self, field, sentence):
        super().__init__(sentence)
        self.field = field
        self.sentence = sentence


def _name(user):
    if user is None:
        return "Someone"
    return user.get_full_name() or user.get_username()


def activity_add(*, conversation, actor, action, sentence, **details):
    """One activity line in the thread ("Asha assigned this to Ravi"); staff see it at the next poll."""
    line = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.INTERNAL,
        message_type=Message.Type.ACTIVITY,
        status=Message.Status.INTERNAL,
        from_user=actor,
        message_body=sentence,
        data={"activity": action, **details},
    )
    changes.conversations_touched([conversation.pk])
    return line


def _name_to_look_up(value, longest):
    """The text to look a name up by, or None when no row can have it (too long, a NUL, a lone surrogate)."""
    text = value if isinstance(value, str) else ""
    if not text or len(text) > longest or any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in text):
        return None
    return text


def agent_by_username(username):
    """The chat user with this username (the API's value), or InboxRefused naming the assignee field."""
    field = get_user_model().USERNAME_FIELD
    name = _name_to_look_up(username, get_user_model()._meta.get_field(field).max_length or 150)
    user = get_user_model().objects.filter(**{field: name}).first() if name else None
    if user is None or not can_use_chat(user):
        raise InboxRefused("assignee", "There is no colleague of that username who can use the chat.")
    return user


def team_by_name(name):
    return _row_by_name(Team, name, field="team", sentence="There is no team of that name.")


def agent_by_id(value):
    """The chat user with this id (a form's value), or InboxRefused naming the assignee field."""
    user = (
        get_user_model().objects.filter(pk=int(value)).first()
        if str(value).isdigit() and len(str(value)) < 19
        else None
    )
    if user is None or not can_use_chat(user):
        raise InboxRefused("assignee", "Choose a colleague who can use the chat.")
    return user


def _row_by_id(model, value, *, field, sentence):
    """The row with this id (a form's value), or InboxRefused naming the field; a malformed id finds nothing."""
    value = str(value)
    row = model.objects.filter(pk=int(value)).first() if value.isdigit() and len(value) < 19 else None
    if row is None:
        raise InboxRefused(field, sentence)
    return row


def _row_by_name(model, value, *, field, sentence):
    """The row with this name (the API's value), or InboxRefused naming the field."""
    name = _name_to_look_up(value, model._meta.get_field("name").max_length)
    row = model.objects.filter(name=name).first() if name else None
    if row is None:
        raise InboxRefused(field, sentence)
    return row


def team_by_id(value):
    return _row_by_id(Team, value, field="team", sentence="Choose one of the teams.")


def assignable_agents():
    """The colleagues a conversation can be given to: active users who may use the chat, by name."""
    users = get_user_model().objects.with_perm(
        CHAT_PERMISSION, is_active=True, include_superusers=True, backend="django.contrib.auth.backends.ModelBackend"
    )
    return users.order_by("first_name", "last_name", get_user_model().USERNAME_FIELD)


def _locked(conversation):
    return Conversation.objects.select_for_update().get(pk=conversation.pk)


def _round_robin(team):
    """The next available member of the team after the one who got the last conversation, or None."""
    team = Team.objects.select_for_update().get(pk=team.pk)
    members = team.members.filter(is_active=True).filter(Q(chat_agent=None) | Q(chat_agent__available=True))
    candidates = [user for user in members.order_by("pk") if can_use_chat(user)]
    if not candidates:
        return None
    after = [user for user in candidates if team.last_assigned_to_id and user.pk > team.last_assigned_to_id]
    chosen = (after or candidates)[0]
    Team.objects.filter(pk=team.pk).update(last_assigned_to=chosen)
    return chosen


def _assign_sentence(actor, before, after, team_before, team_after, automatic):
    if automatic:
        return f"Assigned to {_name(after)} by round robin ({team_after.name})"
    who = _name(actor)
    in_team = f" ({team_after.name})" if team_after is not None else ""
    if after is None and before is not None:
        return f"{who} unassigned {_name(before)}" + (f" and gave this to {team_after.name}" if team_after else "")
    if after is None:
        if team_after is None:
            return f"{who} removed this from {team_before.name}"
        return f"{who} gave this to {team_after.name}"
    if before is not None and before != after:
        if before == actor:
            return f"{who} handed this to {_name(after)}{in_team}"
        return f"{who} transferred this from {_name(before)} to {_name(after)}{in_team}"
    if after == actor and actor is not None:
        return f"{who} took this conversation{in_team}"
    return f"{who} assigned this to {_name(after)}{in_team}"


# conversation_assign's default for a field the caller leaves alone.
UNCHANGED = object()


@transaction.atomic
def conversation_assign(*, conversation, actor, assignee=UNCHANGED, team=UNCHANGED):
    """Give the conversation to an agent and/or a team (None: nobody, no team; UNCHANGED: as it is).

    Given to another team with the agent left unchanged, the conversation stays with its agent
    only if they are one of the team's members. A conversation given to an auto-assigning team
    without an agent goes to the team's next available member. The assignee must be a chat user.
    Returns the conversation, updated; no activity line when nothing changed.
    """
    if assignee is not UNCHANGED and assignee is not None and not can_use_chat(assignee):
        raise InboxRefused("assignee", f"{_name(assignee)} cannot use the chat.")
    row = _locked(conversation)
    before, team_before = row.assignee, row.team
    team = team_before if team is UNCHANGED else team
    if assignee is UNCHANGED:
        assignee = before
        if assignee is not None and team is not None and team != team_before:
            # Given to another team: its own members keep it, anyone else hands it over.
            assignee = assignee if team.members.filter(pk=assignee.pk).exists() else None
    automatic = False
    if assignee is None and team is not None and team.auto_assign and team != team_before:
        assignee = _round_robin(team)
        automatic = assignee is not None
    if before == assignee and team_before == team:
        return row
    Conversation.objects.filter(pk=row.pk).update(assignee=assignee, team=team, updated_at=timezone.now())
    row.assignee, row.team = assignee, team
    action = "unassigned" if assignee is None and before is not None else "assigned"
    if before is not None and assignee is not None and before != assignee:
        action = "transferred"
    line = activity_add(
        conversation=row,
        actor=actor,
        action=action,
        sentence=_assign_sentence(actor, before, assignee, team_before, team, automatic),
        assignee=assignee.pk if assignee else None,
        team=team.pk if team else None,
    )
    if assignee is not None and assignee != before and assignee != actor:
        Mention.objects.create(message=line, user=assignee)  # the new owner hears of it
    return row


def check_snooze(until, now=None):
    """A snooze's end: in the future and within a year, else InboxRefused naming `until`."""
    now = now or timezone.now()
    if until is None:
        raise InboxRefused("until", "Say until when to snooze (an ISO 8601 time).")
    if timezone.is_naive(until):
        until = timezone.make_aware(until)
    if until <= now:
        raise InboxRefused("until", "A snooze must end in the future.")
    if until > now + SNOOZE_LONGEST:
        raise InboxRefused("until", "A snooze can last at most a year.")
    return until


# The snooze menu's choices: each ends at a time staff think of ("tomorrow morning"), in local time.
SNOOZE_CHOICES = {"hour": "For an hour", "tomorrow": "Until tomorrow, 09:00", "next_week": "Until Monday, 09:00"}
MORNING = time(9)


def snooze_end(choice, now=None):
    """When a snooze chosen from the menu ends, or InboxRefused for a choice not on it."""
    now = timezone.localtime(now or timezone.now())
    if choice == "hour":
        return now + timedelta(hours=1)
    if choice == "tomorrow":
        day = now.date() + timedelta(days=1)
    elif choice == "next_week":
        day = now.date() + timedelta(days=7 - now.weekday())
    else:
        raise InboxRefused("until", "Choose how long to snooze for.")
    return timezone.make_aware(datetime.combine(day, MORNING), now.tzinfo)


@transaction.atomic
def conversation_set_status(*, conversation, actor, status, until=None):
    """Resolve, snooze (until a time) or reopen the conversation, with its activity line."""
    if status not in Conversation.Status.values:
        raise InboxRefused("status", "The status is one of: open, resolved, snoozed.")
    if status == Conversation.Status.SNOOZED:
        until = check_snooze(until)
    elif until is not None:
        raise InboxRefused("until", "Only a snoozed conversation has an end time.")
    row = _locked(conversation)
    if row.status == status and row.snoozed_until == until:
        return row
    Conversation.objects.filter(pk=row.pk).update(status=status, snoozed_until=until, updated_at=timezone.now())
    row.status, row.snoozed_until = status, until
    who = _name(actor)
    if status == Conversation.Status.RESOLVED:
        sentence = f"{who} resolved this"
    elif status == Conversation.Status.SNOOZED:
        sentence = f"{who} snoozed this until {date_format(timezone.localtime(until), 'D j M, H:i')}"
    else:
        sentence = f"{who} reopened this"
    activity_add(
        conversation=row,
        actor=actor,
        action=status if status != Conversation.Status.OPEN else "reopened",
        sentence=sentence,
        until=until.isoformat() if until else None,
    )
    return row


def conversation_reopen(*, conversation, sentence):
    """Open a resolved or snoozed conversation again, without an actor (the customer wrote, a snooze ended).

    Called in the transaction that caused it; does nothing when it is already open.
    """
    reopened = (
        Conversation.objects.filter(pk=conversation.pk)
        .exclude(status=Conversation.Status.OPEN)
        .update(status=Conversation.Status.OPEN, snoozed_until=None, updated_at=timezone.now())
    )
    if not reopened:
        return False
    conversation.status, conversation.snoozed_until = Conversation.Status.OPEN, None
    activity_add(conversation=conversation, actor=None, action="reopened", sentence=sentence)
    return True


def conversation_welcome(*, conversation):
    """A new customer's conversation goes to the team that receives them, and by round robin to an agent."""
    team = Team.objects.filter(receives_new_conversations=True).first()
    if team is not None and conversation.team_id is None and conversation.assignee_id is None:
        conversation_assign(conversation=conversation, actor=None, assignee=None, team=team)


def conversations_wake(*, now=None):
    """Reopen the snoozed conversations whose time has come; returns how many."""
    now = now or timezone.now()
    woken = 0
    due = Conversation.objects.filter(status=Conversation.Status.SNOOZED, snoozed_until__lte=now)
    for conversation in due.order_by("snoozed_until")[:WAKE_BATCH]:
        with transaction.atomic():
            woken += conversation_reopen(conversation=conversation, sentence="The snooze ended")
    return woken


# --- Labels and the contact's name ---------------------------------------------------------


def label_by_name(name):
    return _row_by_name(
        Label, name, field="label", sentence="There is no label of that name (labels are made in the admin)."
    )


def label_by_id(value):
    return _row_by_id(Label, value, field="label", sentence="Choose one of the labels.")


def _conversations_redrawn(conversation_ids):
    """Conversations whose rows look different though nothing of theirs changed (a label renamed or deleted)."""
    Conversation.objects.filter(pk__in=conversation_ids).update(updated_at=timezone.now())
    changes.conversations_touched(conversation_ids)


@transaction.atomic
def label_save(*, label):
    """Make or change a label (the admin); the conversations that carry it show the new name or colour."""
    label.save()
    _conversations_redrawn(list(label.conversations.values_list("pk", flat=True)))
    return label


@transaction.atomic
def labels_delete(*, labels):
    """Delete labels (the admin); they come off their conversations without activity lines."""
    ids = list(Conversation.objects.filter(labels__in=labels).values_list("pk", flat=True).distinct())
    labels.delete()
    _conversations_redrawn(ids)


def _labels_changed(row, actor, label, action, sentence):
    Conversation.objects.filter(pk=row.pk).update(updated_at=timezone.now())
    activity_add(conversation=row, actor=actor, action=action, sentence=sentence, label=label.pk)


@transaction.atomic
def conversation_label_add(*, conversation, actor, label):
    """Put the label on the conversation; True when it was not on it yet (then with its activity line)."""
    row = _locked(conversation)
    _, added = Conversation.labels.through.objects.get_or_create(conversation_id=row.pk, label_id=label.pk)
    if added:
        _labels_changed(row, actor, label, "labelled", f"{_name(actor)} added the label {label.name}")
    return added


@transaction.atomic
def conversation_label_remove(*, conversation, actor, label):
    """Take the label off the conversation; True when it was on it (then with its activity line)."""
    row = _locked(conversation)
    removed, _ = Conversation.labels.through.objects.filter(conversation_id=row.pk, label_id=label.pk).delete()
    if removed:
        _labels_changed(row, actor, label, "unlabelled", f"{_name(actor)} removed the label {label.name}")
    return bool(removed)


def check_staff_name(value):
    """The display name staff typed, trimmed ("" puts the WhatsApp profile name back), or InboxRefused."""
    longest = Conversation._meta.get_field("staff_name").max_length
    text = " ".join(value.split()) if isinstance(value, str) else None
    if text is None or any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in text):
        raise InboxRefused("display_name", "Type the name as plain text.")
    if len(text) > longest:
        raise InboxRefused("display_name", f"A name has at most {longest} characters.")
    return text


@transaction.atomic
def conversation_rename(*, conversation, actor, name):
    """Give the contact the name staff know them by (empty: show their WhatsApp profile name again).

    Inbound messages keep the profile name (contact_name) current and never touch this one.
    """
    name = check_staff_name(name)
    row = _locked(conversation)
    if row.staff_name == name:
        return row
    Conversation.objects.filter(pk=row.pk).update(staff_name=name, updated_at=timezone.now())
    row.staff_name = name
    who = _name(actor)
    sentence = f"{who} named the contact {name}" if name else f"{who} cleared the contact's name"
    activity_add(conversation=row, actor=actor, action="renamed", sentence=sentence, name=name)
    return row


def conversation_mark_unread(*, conversation):
    """Bring the conversation's unread badge back (at least one), as "Mark as unread" in WhatsApp."""
    Conversation.objects.filter(pk=conversation.pk).update(
        unread_count=Case(
            When(unread_count=0, then=Value(1)), default=F("unread_count"), output_field=PositiveIntegerField()
        ),
        updated_at=timezone.now(),
    )
    changes.conversations_touched([conversation.pk])
    conversation.unread_count = max(conversation.unread_count, 1)


def agent_preferences_set(*, user, **preferences):
    """Save a user's chat settings (desktop_notifications, sound, available) on their Agent row."""
    allowed = {"desktop_notifications", "sound", "available"}
    unknown = set(preferences) - allowed
    if unknown:
        raise InboxRefused(sorted(unknown)[0], "This is not one of the chat settings.")
    agent, _ = Agent.objects.update_or_create(user=user, defaults={k: bool(v) for k, v in preferences.items()})
    return agent
