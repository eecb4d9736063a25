"""Every message write marks its conversation, so an idle poll can trust the mark (chat.changes)."""

from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from chat.changes import conversations_touched, messages_mark_back, messages_marked_at, messages_seen
from chat.models import Message
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


def test_it_marks_a_conversation_when_a_message_is_saved_again(chat):
    message = make_message(chat)
    forget_mark(chat)
    message.status = Message.Status.READ
    message.save(update_fields=["status"])
    assert is_recent(chat)


def test_it_marks_every_conversation_of_a_bulk_insert(db):
    chats = [make_conversation(phone=f"+91987654321{n}") for n in range(3)]
    for chat in chats:
        forget_mark(chat)
    Message.objects.bulk_create(
        Message(conversation=chat, direction="outbound", message_body="hi", status="queued") for chat in chats
    )
    assert all(is_recent(chat) for chat in chats)


def test_it_marks_the_conversations_an_update_of_updated_at_touched_and_no_other(db):
    busy, quiet = make_conversation(phone="+919876543210"), make_conversation(phone="+14155550123")
    sent = make_message(busy, "outbound", status="sent")
    make_message(quiet, "outbound", status="delivered")
    forget_mark(busy)
    forget_mark(quiet)
    # The filter no longer matches after the update: the conversations are read before it.
    Message.objects.filter(status="sent").update(status="delivered", updated_at=timezone.now())
    assert is_recent(busy)
    assert not is_recent(quiet)
    assert Message.objects.get(pk=sent.pk).status == "delivered"


def test_an_update_in_a_known_conversation_marks_it_and_changes_no_other(db):
    busy, quiet = make_conversation(phone="+919876543210"), make_conversation(phone="+14155550123")
    sent = make_message(busy, "outbound", status="sent")
    elsewhere = make_message(quiet, "outbound", status="sent")
    forget_mark(busy)
    forget_mark(quiet)
    rows = Message.objects.filter(pk__in=[sent.pk, elsewhere.pk])
    assert rows.update_in(busy.pk, status="delivered", updated_at=timezone.now()) == 1
    assert is_recent(busy)
    assert not is_recent(quiet)
    assert Message.objects.get(pk=elsewhere.pk).status == "sent"
    forget_mark(busy)
    assert rows.update_in(busy.pk, media_id="123") == 1  # a change the page does not show
    assert not is_recent(busy)


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
