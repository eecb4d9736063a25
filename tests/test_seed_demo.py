from django.db.models import Max
from django.utils import timezone

from benchmarks.seed_demo import seed_demo
from chat.models import Conversation, Message
from chat.services import conversation_apply_message, conversation_mark_read, message_preview
from links.models import EntityLink


def seed(**options):
    seed_demo(jobs=1, **options)


def test_it_seeds_the_asked_numbers_of_conversations_and_messages(db):
    seed(messages=500, conversations=20)

    assert Conversation.objects.count() == 20
    assert Message.objects.count() == 500
    assert not Conversation.objects.filter(messages=None).exists()


def test_it_seeds_every_message_type_status_and_entity_links(db):
    seed(messages=3000, conversations=30)

    whatsapp_types = set(Message.Type.values) - {Message.Type.NOTE, Message.Type.ACTIVITY}  # staff's own rows
    assert set(Message.objects.values_list("message_type", flat=True)) == whatsapp_types
    statuses = set(Message.objects.values_list("status", flat=True))
    assert {"received", "delivered", "read", "failed"} <= statuses
    assert not Message.objects.filter(status__in=["queued", "sending"]).exists()  # nothing for a worker to send
    assert EntityLink.objects.count() > 10
    assert EntityLink.objects.filter(entity_id="1").exists()
    assert Message.objects.filter(direction="inbound", read=False).exists()
    assert Message.objects.filter(message_type="image", media_state="ready").exclude(mime_type="").exists()


def test_it_leaves_each_conversation_with_counters_that_match_its_messages(db):
    seed(messages=2000, conversations=25)

    for conversation in Conversation.objects.all():
        messages = conversation.messages.order_by("created_at", "id")
        latest = messages.last()
        unread = messages.filter(direction="inbound", read=False).exclude(message_type="reaction").count()
        assert conversation.unread_count == unread
        assert conversation.last_message_at == latest.created_at
        assert conversation.last_message_preview == message_preview(latest)
        assert conversation.last_message_id == latest.pk
        inbound = messages.filter(direction="inbound").aggregate(at=Max("created_at"))["at"]
        assert conversation.last_inbound_at == inbound


def test_its_counters_are_the_ones_the_service_leaves_message_by_message(db):
    seed(messages=400, conversations=8)
    counters = ("unread_count", "last_message_at", "last_message_preview", "last_inbound_at", "last_created_at")
    for seeded in Conversation.objects.all():
        replay = Conversation.objects.create(other_party=f"+1202555{seeded.pk:04d}")
        for message in seeded.messages.order_by("id"):
            message.pk, message.conversation, message.whatsapp_message_id = None, replay, None
            message.save()
            conversation_apply_message(message=message)
            if message.read:  # staff opened the conversation after it arrived
                conversation_mark_read(conversation=replay)
        replay.refresh_from_db()
        assert [getattr(replay, name) for name in counters] == [getattr(seeded, name) for name in counters]


def test_it_adds_to_what_is_there_when_run_again(db):
    seed(messages=300, conversations=10)
    seed(messages=300, conversations=10)

    assert Conversation.objects.count() == 20
    assert Message.objects.count() == 600
    wamids = Message.objects.exclude(whatsapp_message_id=None).values_list("whatsapp_message_id", flat=True)
    assert len(set(wamids)) == len(wamids)


def test_it_gives_messages_ids_in_the_order_they_were_sent(db):
    seed(messages=600, conversations=6)
    ids = list(Message.objects.order_by("created_at", "id").values_list("id", flat=True))
    assert ids == sorted(ids)

    seed(messages=100, conversations=2)  # a second seed comes after the first, like newer history
    for conversation in Conversation.objects.all():
        in_time_order = list(conversation.messages.order_by("created_at", "id").values_list("id", flat=True))
        assert in_time_order == sorted(in_time_order)


def test_it_leaves_the_database_numbering_new_messages_after_the_seeded_ones(db, agent):
    from chat.services import message_send_text

    seed(messages=200, conversations=4)
    conversation = Conversation.objects.first()
    conversation.last_inbound_at = timezone.now()  # the customer just wrote: the window is open
    message = message_send_text(conversation=conversation, author=agent, body="after the seed")

    assert message.pk > Message.objects.exclude(pk=message.pk).order_by("-id").first().pk
