import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from chat.models import Conversation, Message
from chat.services import conversation_apply_message, conversation_get_or_create


def inbound(conversation, **fields):
    fields.setdefault("message_body", "hello")
    return Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        from_phone=conversation.other_party,
        other_party=conversation.other_party,
        **fields,
    )


@pytest.mark.django_db
def test_it_keeps_whatsapp_ids_unique_when_set():
    conversation = conversation_get_or_create(phone="+919876543210")
    inbound(conversation, whatsapp_message_id="wamid.A")
    inbound(conversation)  # outbound messages have no id until Meta accepts them
    inbound(conversation)
    with pytest.raises(IntegrityError), transaction.atomic():
        inbound(conversation, whatsapp_message_id="wamid.A")


@pytest.mark.django_db
def test_it_finds_one_conversation_per_number_and_keeps_the_name_current():
    first = conversation_get_or_create(phone="+919876543210", name="Asha")
    again = conversation_get_or_create(phone="+919876543210", name="Asha K")
    assert first.pk == again.pk
    assert Conversation.objects.get(pk=first.pk).contact_name == "Asha K"


@pytest.mark.django_db
def test_it_joins_a_user_id_and_a_number_into_one_customer():
    by_id = conversation_get_or_create(user_id="US.1349")
    both = conversation_get_or_create(phone="+919876543210", user_id="US.1349")
    assert by_id.pk == both.pk
    assert Conversation.objects.get(pk=by_id.pk).other_party == "+919876543210"


@pytest.mark.django_db
def test_it_counts_unread_and_moves_last_activity_only_forward():
    conversation = conversation_get_or_create(phone="+919876543210")
    now = timezone.now()
    with transaction.atomic():
        conversation_apply_message(message=inbound(conversation, message_body="new", whatsapp_timestamp=now))
    with transaction.atomic():
        late = inbound(conversation, message_body="older", whatsapp_timestamp=now - timezone.timedelta(minutes=5))
        conversation_apply_message(message=late)
    conversation.refresh_from_db()
    assert conversation.unread_count == 2
    assert conversation.last_message_at == now
    assert conversation.last_message_preview == "new"
    assert conversation.last_inbound_at == now


@pytest.mark.django_db(transaction=True)
def test_it_loses_no_count_under_concurrent_inserts():
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    conversation = conversation_get_or_create(phone="+919876543210")
    threads, per_thread = 8, 15
    barrier = threading.Barrier(threads)
    errors = []

    def write():
        try:
            barrier.wait()
            for _ in range(per_thread):
                with transaction.atomic():
                    conversation_apply_message(message=inbound(conversation, whatsapp_timestamp=timezone.now()))
        except Exception as exc:  # reported below, not swallowed
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=write) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    conversation.refresh_from_db()
    assert conversation.unread_count == threads * per_thread
    assert Message.objects.filter(conversation=conversation).count() == threads * per_thread
