"""Fill the database with realistic demo conversations, fast, by bulk inserts: the benchmarks' data.

Every message type, inbound and outbound, delivery statuses, unread messages, media
metadata, replies, reactions and entity links; a few long conversations and many short
ones. Conversation counters (last message, preview, unread count, last inbound) are
computed while generating and written with the conversations, so they agree with the
messages exactly as chat.services would have left them; the statistics' daily rollup is
aggregated from the new rows once they are in.

The counters reuse the product's own rules where they are functions (chat.services.message_preview,
chat.stats.stats_add_messages); only what chat.services.conversation_apply_message's UPDATE
would add up message by message is summed here, in memory, in one pass.

Used by the benchmarks (benchmarks/run.py, benchmarks/profile.py) and for demos:
`python -m benchmarks.django_side seed --messages N --conversations C`, or seed_demo(...)
from code that has set Django up. Plain ORM bulk_create, so it runs on any backend Django supports.
"""

import multiprocessing
import random
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.color import no_style
from django.db import connection, connections, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from chat.models import Conversation, Message
from chat.services import message_preview
from chat.stats import stats_add_messages
from links.models import EntityLink

# Weights of each type among messages (outbound templates are ordinary in business chats).
TYPE_WEIGHTS = [
    (Message.Type.TEXT, 620),
    (Message.Type.IMAGE, 80),
    (Message.Type.VIDEO, 20),
    (Message.Type.AUDIO, 40),
    (Message.Type.DOCUMENT, 40),
    (Message.Type.STICKER, 20),
    (Message.Type.LOCATION, 15),
    (Message.Type.CONTACTS, 10),
    (Message.Type.INTERACTIVE, 30),
    (Message.Type.BUTTON, 20),
    (Message.Type.REACTION, 50),
    (Message.Type.TEMPLATE, 50),
    (Message.Type.UNSUPPORTED, 5),
]
# Only customers send these; only the business sends templates.
INBOUND_ONLY = {Message.Type.INTERACTIVE, Message.Type.BUTTON, Message.Type.UNSUPPORTED}
OUTBOUND_ONLY = {Message.Type.TEMPLATE}
MEDIA = {
    Message.Type.IMAGE: ("image/jpeg", "photo.jpg", 180_000),
    Message.Type.VIDEO: ("video/mp4", "clip.mp4", 4_000_000),
    Message.Type.AUDIO: ("audio/ogg; codecs=opus", "voice.ogg", 40_000),
    Message.Type.DOCUMENT: ("application/pdf", "quotation.pdf", 250_000),
    Message.Type.STICKER: ("image/webp", "sticker.webp", 30_000),
}
TEXTS = [
    "Hello, is the site visit still on for tomorrow?",
    "Please share the revised quotation.",
    "Payment done, sending the receipt now",
    "Can you call me after 5 pm?",
    "Thank you! 🙏",
    "The material reached the site this morning.",
    "What is the status of my petty cash request?",
    "Ok noted",
    "Please find the drawings attached <b>not bold</b> & escaped",
    "Kal subah 10 baje milte hain",
    "We have approved the estimate, please go ahead.",
    "Any update on the invoice?",
]
NAMES = ["Asha", "Ravi", "Meera", "Arjun", "Priya", "Kiran", "Sanjay", "Divya", "Farhan", "Lakshmi", "Vikram", "Neha"]
EMOJIS = ["👍", "❤️", "😂", "🙏", "😮"]
UNREAD_TAIL = 3  # up to this many of the newest inbound messages stay unread
LINK_EVERY = 97  # roughly one message in a hundred is linked to an ERP record
FAILED_EVERY = 53  # roughly two outbound messages in a hundred failed


def split_counts(total, parts, rng):
    """`total` messages over `parts` conversations: a few long ones, a long tail of short ones, each >= 1."""
    if parts > total:
        raise ValueError("Need at least one message per conversation (messages >= conversations).")
    # Zipf-like: the first conversation is the longest (the benchmarks page deep into it).
    weights = [1.0 / (i + 1) ** 0.8 for i in range(parts)]
    scale = (total - parts) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    counts[0] += total - sum(counts)
    return counts


class Seeder:
    def __init__(self, *, rng, now, days, agent, entity_types):
        self.rng = rng
        self.now = now
        self.span = timedelta(days=days).total_seconds()
        self.agent = agent
        self.entity_types = entity_types
        self.types = [t for t, _ in TYPE_WEIGHTS]
        self.weights = [w for _, w in TYPE_WEIGHTS]
        self.serial = 0
        self.start = now - timedelta(days=days)
        self.used_ids = set()
        self.defaults = {k: v for k, v in Message().__dict__.items() if k != "_state"}

    def blank_message(self):
        """A new Message with every field at its default.

        Model.__init__ walks all ~45 fields for each row, the larger part of the
        seeding time; copying one instance's defaults gives bulk_create the same object.
        """
        message = Message.__new__(Message)
        message.__dict__.update(self.defaults)
        message._state = ModelState()
        message.data = {}
        return message

    def id_for(self, at):
        """An id that grows with the time of the message, as when messages arrive one by one.

        Rows are inserted conversation by conversation, in parallel; with the database's
        own ids, a conversation's newest message would carry an old id and the planner's
        estimates for `id > cursor` (the polls, older history) would be unlike production's.
        Microseconds since the window's start, times the number of jobs, plus this job:
        distinct across jobs, and bumped past any id this job already used.
        """
        micros = int((at - self.start).total_seconds() * 1_000_000)
        candidate = self.base_id + micros * self.jobs + self.job
        while candidate in self.used_ids:
            candidate += self.jobs
        self.used_ids.add(candidate)
        return candidate

    def wamid(self, kind):
        self.serial += 1
        return f"wamid.demo{kind}{self.run}{self.serial:010d}="

    def plan(self, count):
        """Message specs for one conversation, oldest first: (at, direction, type)."""
        rng = self.rng
        # Each conversation lives in its own stretch of the window; long ones cover all of it.
        length = self.span * min(1.0, 0.05 + count / 2000)
        end = self.now - timedelta(seconds=rng.random() * (self.span - length))
        offsets = sorted(rng.random() * length for _ in range(count))
        types = rng.choices(self.types, self.weights, k=count)
        specs = []
        for offset, message_type in zip(offsets, types, strict=True):
            if message_type in INBOUND_ONLY:
                direction = Message.Direction.INBOUND
            elif message_type in OUTBOUND_ONLY:
                direction = Message.Direction.OUTBOUND
            else:
                direction = Message.Direction.INBOUND if rng.random() < 0.55 else Message.Direction.OUTBOUND
            specs.append((end - timedelta(seconds=length - offset), direction, message_type))
        if specs[0][2] == Message.Type.REACTION:  # a reaction needs an earlier message
            specs[0] = (specs[0][0], specs[0][1], Message.Type.TEXT)
        return specs

    def message(self, conversation, spec, index, count, previous_wamid):
        at, direction, message_type = spec
        rng = self.rng
        inbound = direction == Message.Direction.INBOUND
        business = "+15550001234"
        message = self.blank_message()
        message.pk = self.id_for(at)
        message.conversation = conversation
        message.direction = direction
        message.message_type = message_type
        message.other_party = conversation.other_party
        message.from_phone = conversation.other_party if inbound else business
        message.to_phone = business if inbound else conversation.other_party
        message.created_at = message.updated_at = message.whatsapp_timestamp = at
        message.whatsapp_message_id = self.wamid("in" if inbound else "out")
        self.fill_content(message, rng, previous_wamid)
        if inbound:
            message.status = Message.Status.RECEIVED
            unread = index >= count - UNREAD_TAIL and message_type != Message.Type.REACTION and self.unread
            message.read = not unread
            message.read_at = None if unread else at + timedelta(minutes=3)
        else:
            message.from_user = self.agent
            message.send_attempts = 1
            message.send_started_at = at + timedelta(milliseconds=500)
            message.sent_at = at + timedelta(seconds=1)
            if index % FAILED_EVERY == FAILED_EVERY - 1:
                message.status = Message.Status.FAILED
                message.failed_at = at + timedelta(seconds=2)
                message.error_code = 131026
                message.error_title = "Message undeliverable"
                message.whatsapp_message_id = message.whatsapp_message_id if rng.random() < 0.5 else None
            elif index >= count - 2:
                message.status = Message.Status.DELIVERED
                message.delivered_at = at + timedelta(seconds=5)
            else:
                message.status = Message.Status.READ
                message.delivered_at = at + timedelta(seconds=5)
                message.seen_at = at + timedelta(minutes=10)
        return message

    def fill_content(self, message, rng, previous_wamid):
        message_type = message.message_type
        if message_type == Message.Type.TEXT:
            message.message_body = rng.choice(TEXTS)
            if previous_wamid and rng.random() < 0.08:
                message.reply_to_whatsapp_id = previous_wamid
        elif message_type in MEDIA:
            mime, name, size = MEDIA[message_type]
            message.media_id = f"{rng.randrange(10**15, 10**16)}"
            message.mime_type = mime
            message.file_name = name if message_type == Message.Type.DOCUMENT else ""
            message.file_size = size + rng.randrange(size // 2)
            message.media_state = Message.MediaState.READY
            message.sharepoint_state = Message.BackupState.UPLOADED
            message.sharepoint_item_id = f"01DEMO{message.media_id}"
            if message_type in (Message.Type.IMAGE, Message.Type.VIDEO, Message.Type.DOCUMENT) and rng.random() < 0.4:
                message.caption = rng.choice(TEXTS)
        elif message_type == Message.Type.LOCATION:
            message.data = {
                "location": {"latitude": 12.9716, "longitude": 77.5946, "name": "Site office", "address": "MG Road"}
            }
        elif message_type == Message.Type.CONTACTS:
            name = rng.choice(NAMES)
            message.data = {"contacts": [{"name": {"formatted_name": name}, "phones": [{"phone": "+919800000001"}]}]}
        elif message_type == Message.Type.INTERACTIVE:
            message.message_body = "Yes, confirm"
            message.data = {"interactive": {"type": "button_reply", "button_reply": {"id": "confirm", "title": "Yes"}}}
        elif message_type == Message.Type.BUTTON:
            message.message_body = "Track order"
            message.data = {"button": {"payload": "track", "text": "Track order"}}
        elif message_type == Message.Type.REACTION:
            emoji = rng.choice(EMOJIS)
            message.message_body = emoji
            message.data = {"reaction": {"message_id": previous_wamid, "emoji": emoji}}
        elif message_type == Message.Type.TEMPLATE:
            message.message_body = "Your order 1042 has been dispatched."
            message.data = {"template": {"name": "order_update", "language": "en", "parameters": ["1042"]}}
        elif message_type == Message.Type.UNSUPPORTED:
            message.data = {"unsupported": {"type": "poll"}}


def counters_for(messages):
    """What chat.services.conversation_apply_message leaves on the conversation after these messages."""
    last = messages[-1]
    inbound = [m for m in messages if m.direction == Message.Direction.INBOUND]
    return {
        "last_message_at": last.created_at,
        "last_message_preview": message_preview(last),
        "last_message_id": last.pk,
        "unread_count": sum(1 for m in inbound if not m.read and m.message_type != Message.Type.REACTION),
        "last_inbound_at": inbound[-1].created_at if inbound else None,
        "updated_at": last.created_at,
        "last_created_at": max(m.created_at for m in messages),
    }


def seed_part(*, job, jobs, base, base_id, numbers, counts, seed, now, days, batch, agent_id, entity_types):
    """Seed the conversations numbered `numbers` (with `counts` messages each); returns the messages stored."""
    rng = random.Random(seed)
    agent = get_user_model().objects.get(pk=agent_id)
    seeder = Seeder(rng=rng, now=now, days=days, agent=agent, entity_types=entity_types)
    seeder.run = f"{base:x}r{job}j"
    seeder.job, seeder.jobs, seeder.base_id = job, jobs, base_id
    group, stored = [], 0
    for position, (number, count) in enumerate(zip(numbers, counts, strict=True)):
        specs = seeder.plan(count)
        name = rng.choice(NAMES) if rng.random() < 0.8 else ""
        conversation = Conversation(
            other_party=f"+9170{(base + number) % 10**8:08d}", contact_name=name, created_at=specs[0][0]
        )
        unread = rng.random() < 0.3  # about a third of the inbox has something unread
        group.append((conversation, specs, unread))
        if sum(len(item[1]) for item in group) >= batch or position == len(numbers) - 1:
            stored += _store(seeder, group, batch)
            group = []
    return stored


def _seed_part_star(part):
    """A child process's part, on its own connection."""
    if connection.vendor == "postgresql":
        # Parameters bound by the server: PostgreSQL then skips parsing ~45 large array
        # literals per INSERT (Django 5.2 inserts with UNNEST), which is the slower part of a bulk insert.
        connection.settings_dict["OPTIONS"] = {**connection.settings_dict["OPTIONS"], "server_side_binding": True}
    try:
        return seed_part(**part)
    finally:
        connections.close_all()


def _store(seeder, group, batch):
    """Store a group of conversations with their counters, then their messages and links."""
    built = []
    for conversation, specs, unread in group:
        seeder.unread = unread
        messages, previous = [], None
        for index, spec in enumerate(specs):
            message = seeder.message(conversation, spec, index, len(specs), previous)
            previous = message.whatsapp_message_id or previous
            messages.append(message)
        for field, value in counters_for(messages).items():
            setattr(conversation, field, value)
        built.append(messages)
    with transaction.atomic():
        Conversation.objects.bulk_create([item[0] for item in group], batch_size=batch)
        # bulk_create set the conversations' ids, which the messages pick up now.
        rows = [message for messages in built for message in messages]
        Message.objects.bulk_create(rows, batch_size=batch)
        EntityLink.objects.bulk_create(_links(seeder, rows), batch_size=batch)
    return len(rows)


def _links(seeder, rows):
    """About one message in a hundred linked to a record; record "1" of each type is a busy one."""
    links = []
    for message in rows[:: seeder.rng.randrange(LINK_EVERY - 10, LINK_EVERY + 10)]:
        entity_id = "1" if seeder.rng.random() < 0.2 else str(seeder.rng.randrange(2, 5000))
        links.append(
            EntityLink(
                message=message,
                entity_type=seeder.rng.choice(seeder.entity_types),
                entity_id=entity_id,
                created_at=message.created_at,
                created_by=seeder.agent,
            )
        )
    return links


def seed_demo(*, messages=1000, conversations=None, days=365, batch=5000, seed=1, jobs=2):
    """Add `messages` demo messages over `conversations` conversations (default 1%); returns what was stored.

    jobs: processes inserting in parallel (1 on SQLite, one writer at a time). Separate
    processes (each its own connection) keep both cores busy: one builds rows while the
    database stores the other's batch.
    """
    if messages < 1:
        raise ValueError("messages must be at least 1.")
    conversations = conversations or max(1, messages // 100)
    if connection.vendor == "sqlite":
        jobs = 1
    started = time.monotonic()
    counts = split_counts(messages, conversations, random.Random(seed))
    agent = demo_agent()
    # Distinct numbers and wamids whatever is already there: start past the existing rows.
    base = (Conversation.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    base_id = (Message.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    now = timezone.now()
    parts = [
        {
            "job": job,
            "jobs": jobs,
            "base": base,
            "base_id": base_id,
            "numbers": list(range(job, len(counts), jobs)),
            "counts": counts[job::jobs],
            "seed": seed * 1000 + job,
            "now": now,
            "days": days,
            "batch": batch,
            "agent_id": agent.pk,
            "entity_types": list(settings.ENTITY_TYPES) or ["project"],
        }
        for job in range(jobs)
    ]
    if jobs == 1:
        stored = seed_part(**parts[0])
    else:
        connections.close_all()
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            stored = sum(pool.map(_seed_part_star, parts))
    # The statistics' daily rollup, aggregated by the database over this seed's rows (their ids start at base_id).
    stats_add_messages(messages=Message.objects.filter(pk__gte=base_id))
    # The ids were chosen here, not by the database: move its sequence past them.
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [Message]):
            cursor.execute(statement)
    return {"conversations": len(counts), "messages": stored, "seconds": round(time.monotonic() - started, 1)}


def demo_agent():
    """The staff member the demo's outbound messages come from."""
    user, created = get_user_model().objects.get_or_create(username="demo-agent", defaults={"is_staff": True})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        group = Group.objects.filter(name="WhatsApp agents").first()
        if group is not None:
            user.groups.add(group)
    return user
