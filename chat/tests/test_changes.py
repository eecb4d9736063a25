"""Every message write marks its conversation, so an idle poll can trust the mark (chat.changes)."""

import ast
from pathlib import Path

from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from chat.changes import conversations_touched, messages_mark_back, messages_marked_at, messages_seen
from chat.models import Conversation, Message
from chat.services.sends import message_send_claim
from chat.services.statuses import message_status_apply
from chat.tests.conftest import backdate, make_conversation, make_message
from links.services import entity_link_create

HTMX = {"HTTP_HX_REQUEST": "true"}
LONG_AGO = timezone.now() - timezone.timedelta(days=1)


def forget_mark(chat):
    messages_mark_back([chat.pk], LONG_AGO)


def is_recent(chat):
    mark = messages_marked_at(chat.pk)
    return mark is not None and mark > (timezone.now() - timezone.timedelta(seconds=5)).timestamp()


def test_it_marks_a_conversation_when_a_message_is_stored(chat):
    forget_mark(chat)
    make_message(chat)
    assert is_recent(chat)


def test_it_marks_a_conversation_when_a_status_moves_its_message_forward(chat):
    message = make_message(chat, "outbound", status="sent")
    forget_mark(chat)
    assert message_status_apply(wamid=message.whatsapp_message_id, name="delivered", at=timezone.now()) == "applied"
    assert is_recent(chat)


def test_it_marks_the_conversation_a_send_outcome_changes_and_no_other(db):
    busy, quiet = make_conversation(phone="+919876543210"), make_conversation(phone="+14155550123")
    queued = make_message(busy, "outbound", status="queued")
    make_message(quiet, "outbound", status="queued")
    forget_mark(busy)
    forget_mark(quiet)
    assert message_send_claim(message=queued)
    assert is_recent(busy)
    assert not is_recent(quiet)


def test_a_claim_that_does_not_land_marks_nothing(chat):
    sent = make_message(chat, "outbound", status="sent")
    forget_mark(chat)
    assert not message_send_claim(message=sent)
    assert not is_recent(chat)


def test_nothing_is_guessed_from_a_query_a_related_lookup_marks_no_conversation(db):
    """The old QuerySet override read pks out of the filter; a related lookup fooled it."""
    first, second = make_conversation(phone="+919876543210"), make_conversation(phone="+14155550123")
    message = make_message(second)
    forget_mark(first)
    forget_mark(second)
    # first.pk may equal message.pk; a write outside the services marks nothing by itself.
    Conversation.objects.filter(messages__pk=message.pk).update(contact_name="Asha")
    assert not is_recent(first)


def _marking_functions(trees):
    """Names of functions that mark, directly or through a function that does (to a fixed point)."""
    marking = {"conversations_touched"}
    while True:
        found = {
            fn.name
            for tree in trees.values()
            for fn in ast.walk(tree)
            if isinstance(fn, ast.FunctionDef) and fn.name not in marking and _calls(fn) & marking
        }
        if not found:
            return marking
        marking |= found


def _calls(fn):
    names = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def _sets_updated_at(fn):
    for node in ast.walk(fn):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "updated_at":
                    return True
                if keyword.arg == "update_fields" and "updated_at" in ast.unparse(keyword.value):
                    return True
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Attribute) and target.attr == "updated_at" for target in node.targets
        ):
            return True
    return False


def test_every_write_that_sets_updated_at_marks_its_conversations():
    """A function of the product that sets updated_at (what a poll shows) calls the change mark,
    itself or through a function that does; a private helper counts when every caller in its module marks."""
    root = Path(__file__).resolve().parents[2]
    trees = {}
    for path in sorted(root.glob("*/**/*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in (".venv", "var", "benchmarks", "simulator") or "tests" in parts or "migrations" in parts:
            continue
        trees[path.relative_to(root)] = ast.parse(path.read_text())
    marking = _marking_functions(trees)
    unmarked = []
    for path, tree in trees.items():
        functions = [fn for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)]
        for fn in functions:
            if not _sets_updated_at(fn) or fn.name in marking:
                continue
            callers = [other for other in functions if fn.name in _calls(other)]
            if fn.name.startswith("_") and callers and all(other.name in marking for other in callers):
                continue
            unmarked.append(f"{path}:{fn.lineno} {fn.name}")
    assert unmarked == []


def test_it_leaves_the_mark_alone_for_an_update_the_page_does_not_show(chat):
    message = make_message(chat)
    forget_mark(chat)
    Message.objects.filter(pk=message.pk).update(media_id="123")
    assert not is_recent(chat)


def test_it_marks_a_conversation_when_a_message_is_linked_to_a_record(chat):
    message = make_message(chat)
    forget_mark(chat)
    entity_link_create(message=message, entity_type="project", entity_id="7")
    assert is_recent(chat)


def test_it_shows_a_message_a_poll_looked_for_before_it_was_committed(agent_client, chat):
    first = make_message(chat)
    backdate(chat, first)
    since = timezone.now().isoformat()
    url = reverse("chat:conversation_poll", args=[chat.pk])
    conversations_touched([chat.pk])  # a writer's mark, its row not visible yet
    assert agent_client.get(url, {"after": first.pk, "since": since, "open": 1}, **HTMX).status_code == 204
    # The 204 kept the client's cursor; once the row is there, the next poll with it finds it.
    second = make_message(chat, apply=False, message_body="committed late")
    response = agent_client.get(url, {"after": first.pk, "since": since, "open": 1}, **HTMX)
    assert f'id="m-{second.pk}"' in response.content.decode()


def test_a_poll_never_hides_a_writers_newer_mark(chat):
    conversations_touched([chat.pk])
    writer_mark = messages_marked_at(chat.pk)
    messages_seen(chat.pk, timezone.now() - timezone.timedelta(minutes=1))
    assert messages_marked_at(chat.pk) == writer_mark


def test_it_shows_a_message_stored_after_an_idle_poll(agent_client, chat):
    first = make_message(chat)
    backdate(chat, first)
    url = reverse("chat:conversation_poll", args=[chat.pk])
    since = timezone.now().isoformat()
    assert agent_client.get(url, {"after": first.pk, "since": since, "open": 1}, **HTMX).status_code == 204
    second = make_message(chat, message_body="still there?")
    response = agent_client.get(url, {"after": first.pk, "since": since, "open": 1}, **HTMX)
    assert f'id="m-{second.pk}"' in response.content.decode()


def test_it_answers_correctly_after_the_cache_is_lost(agent_client, chat):
    first = make_message(chat)
    backdate(chat, first)
    since = timezone.now().isoformat()
    Message.objects.filter(pk=first.pk).update(status="read", updated_at=timezone.now())
    cache.clear()  # the marks, the permission and the session's copy; the session stays in the database
    body = agent_client.get(
        reverse("chat:conversation_poll", args=[chat.pk]), {"after": first.pk, "since": since, "open": 1}, **HTMX
    ).content.decode()
    assert f'id="m-{first.pk}"' in body
    assert 'data-status="read"' in body


REDIS_DOWN = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
    }
}


def test_it_stores_messages_and_answers_polls_while_the_cache_is_down(agent_client, chat, settings):
    first = make_message(chat)
    backdate(chat, first)
    since = timezone.now().isoformat()
    settings.CACHES = REDIS_DOWN
    second = make_message(chat, message_body="sent while Redis was down")
    response = agent_client.get(
        reverse("chat:conversation_poll", args=[chat.pk]), {"after": first.pk, "since": since, "open": 1}, **HTMX
    )
    assert f'id="m-{second.pk}"' in response.content.decode()
