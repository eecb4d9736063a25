from django.conf import settings
from django.db import models
from django.utils import timezone


class Conversation(models.Model):
    """One customer, as the inbox lists them.

    The counters are kept on this row by chat.services in the same transaction
    as each message, so the inbox never aggregates over messages.
    """

    # E.164 (+919876543210). Null only for a customer known by user id alone.
    other_party = models.CharField(max_length=32, unique=True, null=True, blank=True)
    # Business-scoped user id (US.123...) of a customer who hides the number behind a username.
    wa_user_id = models.CharField(max_length=128, unique=True, null=True, blank=True)
    # The WhatsApp profile name, kept current by each inbound message.
    contact_name = models.CharField(max_length=256, blank=True)
    # The customer's WhatsApp username (without the @), when they have one; kept current with the profile name.
    wa_username = models.CharField(max_length=64, blank=True)
    # The name staff gave the contact (chat.services.inbox.conversation_rename); the profile name never
    # overwrites it, and display_name prefers it.
    staff_name = models.CharField(max_length=256, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_message_preview = models.CharField(max_length=255, blank=True)
    # The message the preview shows, for its side ("You:") and its ticks in the sidebar.
    last_message = models.ForeignKey("chat.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    unread_count = models.PositiveIntegerField(default=0)
    # Drives the 24-hour customer-service window.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Bumped by every change the inbox shows; the sidebar poll's cursor.
    updated_at = models.DateTimeField(default=timezone.now)
    # The newest created_at among the conversation's messages (last_message_at follows WhatsApp's
    # timestamps instead). A conversation has a message since T exactly when this is >= T, so the
    # statistics count active conversations here, not over messages.
    last_created_at = models.DateTimeField(null=True, blank=True)

    # The team's work on it (chat.services.inbox): who owns it, and whether it is done.
    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"
        SNOOZED = "snoozed"

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    team = models.ForeignKey("chat.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Applied and removed through chat.services.inbox (each leaves an activity line).
    labels = models.ManyToManyField(
        "chat.Label", blank=True, related_name="conversations", db_table="whatsapp_conversation_labels"
    )

    class Meta:
        permissions = [
            ("use_chat", "Can use the WhatsApp chat"),
            ("see_all_conversations", "Can see every conversation when agents see only their own"),
        ]
        indexes = [
            # Used by the sidebar's filters: a status (open by default), by owner or team, newest first.
            models.Index(fields=["status", "-last_message_at", "-id"], name="conversation_status_idx"),
            models.Index(fields=["assignee", "status", "-last_message_at", "-id"], name="conversation_assignee_idx"),
            models.Index(fields=["team", "status", "-last_message_at", "-id"], name="conversation_team_idx"),
            # Used by the filters' unread counts: only open conversations with something unread.
            models.Index(
                fields=["assignee", "team"],
                condition=models.Q(unread_count__gt=0, status="open"),
                name="conversation_unread_idx",
            ),
            # Used by the beat task that wakes snoozed conversations.
            models.Index(
                fields=["snoozed_until"], condition=models.Q(status="snoozed"), name="conversation_snooze_idx"
            ),
            # Used by chat.selectors.conversations.conversation_list (the sidebar, newest first).
            models.Index(fields=["-last_message_at", "-id"], name="conversation_activity_idx"),
            # Used by the sidebar poll (what changed since the cursor).
            models.Index(fields=["updated_at"], name="conversation_updated_idx"),
            # Used by chat.selectors.stats.message_stats (conversations with a message in the period).
            models.Index(fields=["last_created_at"], name="conversation_stats_idx"),
        ]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self):
        return self.staff_name or self.contact_name or self.other_party or self.wa_user_id or f"Conversation {self.pk}"

    @property
    def profile_name_shown(self):
        """The WhatsApp profile name, when it is not already the name shown (staff renamed the contact)."""
        return self.contact_name if self.staff_name and self.contact_name != self.staff_name else ""

    @property
    def recipient(self):
        """What the Cloud API's `to` takes: the number, else the user id."""
        return self.other_party or self.wa_user_id

    @property
    def service_window_ends_at(self):
        if self.last_inbound_at is None:
            return None
        return self.last_inbound_at + timezone.timedelta(hours=24)

    def service_window_open(self, now=None):
        ends = self.service_window_ends_at
        return ends is not None and (now or timezone.now()) < ends


class Message(models.Model):
    """A WhatsApp message, inbound or outbound; the seed's whatsapp_messages."""

    class Direction(models.TextChoices):
        INBOUND = "inbound"
        OUTBOUND = "outbound"
        # Among staff only (notes, activity lines): never sent, never counted as a customer's.
        INTERNAL = "internal"

    class Type(models.TextChoices):
        TEXT = "text"
        IMAGE = "image"
        VIDEO = "video"
        AUDIO = "audio"
        DOCUMENT = "document"
        STICKER = "sticker"
        LOCATION = "location"
        CONTACTS = "contacts"
        INTERACTIVE = "interactive"
        BUTTON = "button"
        REACTION = "reaction"
        TEMPLATE = "template"
        UNSUPPORTED = "unsupported"
        NOTE = "note"  # a staff member's internal note
        ACTIVITY = "activity"  # assigned, transferred, resolved, reopened, snoozed

    MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"  # claimed by a worker; see integrations.tasks
        SENT = "sent"
        DELIVERED = "delivered"
        READ = "read"
        FAILED = "failed"
        RECEIVED = "received"  # inbound
        INTERNAL = "internal"  # a note or an activity line: nothing to deliver

    class MediaState(models.TextChoices):
        NONE = "", "No media"
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    class BackupState(models.TextChoices):
        NONE = "", "Not applicable"
        PENDING = "pending"
        UPLOADING = "uploading"
        UPLOADED = "uploaded"
        FAILED = "failed"
        DISABLED = "disabled"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    # Null until Meta accepts an outbound send; unique when set.
    whatsapp_message_id = models.CharField(max_length=512, unique=True, null=True, blank=True)
    from_phone = models.CharField(max_length=128, blank=True)
    to_phone = models.CharField(max_length=128, blank=True)
    other_party = models.CharField(max_length=128, blank=True)
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message_type = models.CharField(max_length=16, choices=Type.choices, default=Type.TEXT)
    message_body = models.TextField(blank=True)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Staff have read this inbound message.
    read = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)
    # The SharePoint webUrl of the backed-up media file.
    media_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Bumped on every change a chat poll must show (status, media, reactions).
    updated_at = models.DateTimeField(default=timezone.now)

    # Content beyond the body: location, contacts, interactive replies, referral,
    # template name and parameters, the raw type of unsupported messages.
    data = models.JSONField(default=dict, blank=True)
    caption = models.TextField(blank=True)
    reply_to_whatsapp_id = models.CharField(max_length=512, blank=True)
    whatsapp_timestamp = models.DateTimeField(null=True, blank=True)
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)

    # Media
    media_id = models.CharField(max_length=128, blank=True)
    mime_type = models.CharField(max_length=128, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=128, blank=True)
    file = models.FileField(upload_to="whatsapp/%Y/%m/", max_length=500, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    media_state = models.CharField(max_length=8, choices=MediaState.choices, blank=True, default="")
    media_error = models.TextField(blank=True)

    # Delivery, as WhatsApp reports it
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)  # the customer read it
    failed_at = models.DateTimeField(null=True, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    # Set right before this try's request to WhatsApp leaves (cleared by each claim): a row
    # stuck "sending" without it never reached WhatsApp and can safely be sent again.
    send_started_at = models.DateTimeField(null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    error_details = models.TextField(blank=True)

    # SharePoint backup
    sharepoint_state = models.CharField(max_length=16, choices=BackupState.choices, blank=True, default="")
    sharepoint_item_id = models.CharField(max_length=255, blank=True)
    sharepoint_error = models.TextField(blank=True)
    # Set when a temporary failure outlasted the task's retries: the sweeper tries again after it.
    sharepoint_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "whatsapp_messages"
        indexes = [
            # Used by selectors for a conversation's history and its poll (keyset on id).
            models.Index(fields=["conversation", "id"], name="message_history_idx"),
            # Used by the conversation poll: messages changed since the cursor.
            models.Index(fields=["conversation", "updated_at"], name="message_changed_idx"),
            # Used by the statistics endpoint.
            models.Index(fields=["created_at", "direction", "message_type"], name="message_stats_idx"),
            # Used by the sweeper that re-enqueues messages left queued.
            models.Index(fields=["status", "created_at"], name="message_status_idx"),
            models.Index(fields=["reply_to_whatsapp_id"], name="message_reply_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["from_user", "idempotency_key"], name="message_idempotency_key"),
        ]

    def __str__(self):
        return f"{self.direction} {self.message_type} {self.pk}"

    @property
    def is_media(self):
        return self.message_type in self.MEDIA_TYPES


class MessageDayCount(models.Model):
    """How many messages of one direction and type were stored on one day.

    The daily rollup behind /api/whatsapp/stats: chat.services.conversation_apply_message
    adds each new message in its own transaction, seed_demo adds its bulk inserts, and
    `manage.py rebuild_message_stats` recounts it from the messages. A day is a calendar
    day in settings.TIME_ZONE (chat.stats.stats_day); changing TIME_ZONE needs a rebuild.
    """

    day = models.DateField()
    direction = models.CharField(max_length=8, choices=Message.Direction.choices)
    message_type = models.CharField(max_length=16, choices=Message.Type.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # One row per key: the writers' update-then-create relies on it under concurrency.
            # Its index serves the stats' day range too.
            models.UniqueConstraint(fields=["day", "direction", "message_type"], name="message_day_count_key"),
        ]

    def __str__(self):
        return f"{self.day} {self.direction} {self.message_type}: {self.count}"


class MessageTemplate(models.Model):
    """An approved (or not) template, synced from WhatsApp Manager."""

    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    category = models.CharField(max_length=32, blank=True)
    components = models.JSONField(default=list, blank=True)
    whatsapp_id = models.CharField(max_length=64, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "language"], name="template_name_language")]
        ordering = ["name", "language"]

    def __str__(self):
        return f"{self.name} ({self.language})"


# Outbound statuses only move forward: a late "delivered" after "read" changes nothing.
STATUS_RANK = {
    Message.Status.QUEUED: 0,
    Message.Status.SENDING: 1,
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.READ: 4,
    Message.Status.FAILED: 5,
}


class Label(models.Model):
    """A coloured tag staff put on conversations (managed in the admin, applied from the pane header)."""

    # The palette: each colour is a chip class in static/chat/app.css (label-<value>) whose text and
    # background contrast at least 4.5:1, so a chip reads the same for everyone.
    class Colour(models.TextChoices):
        GREY = "grey"
        RED = "red"
        ORANGE = "orange"
        AMBER = "amber"
        GREEN = "green"
        TEAL = "teal"
        BLUE = "blue"
        PURPLE = "purple"
        PINK = "pink"

    name = models.CharField(max_length=32, unique=True)
    colour = models.CharField(max_length=8, choices=Colour.choices, default=Colour.GREY)

    class Meta:
        db_table = "whatsapp_labels"
        ordering = ["name"]

    def __str__(self):
        return self.name


class Team(models.Model):
    """A named group of agents that conversations can be assigned to (managed in the admin)."""

    name = models.CharField(max_length=64, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="chat_teams")
    # Round robin among the members marked available, for conversations given to the team.
    auto_assign = models.BooleanField(default=False)
    # New customers' conversations go to this team (at most one team has it).
    receives_new_conversations = models.BooleanField(default=False)
    # The round robin's place: the member who got the last conversation.
    last_assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "whatsapp_teams"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["receives_new_conversations"],
                condition=models.Q(receives_new_conversations=True),
                name="team_one_for_new_conversations",
            ),
        ]

    def __str__(self):
        return self.name


class Agent(models.Model):
    """A chat user's own settings: available for auto-assignment, and how they want to hear about messages."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_agent")
    available = models.BooleanField(default=True)
    desktop_notifications = models.BooleanField(default=False)
    sound = models.BooleanField(default=False)

    class Meta:
        db_table = "whatsapp_agents"

    def __str__(self):
        return str(self.user)


class Mention(models.Model):
    """A colleague's attention called to a conversation: @mentioned in a note, or given it by someone else
    (the assignment's activity line). Seen once they open the conversation."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "whatsapp_mentions"
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="mention_unique")]
        indexes = [
            # Used by the sidebar's count of a user's unseen mentions.
            models.Index(fields=["user", "id"], condition=models.Q(seen_at=None), name="mention_unseen_idx"),
        ]

    def __str__(self):
        return f"@{self.user} in {self.message_id}"


class CannedResponse(models.Model):
    """A saved reply staff insert by typing "/" and its shortcut in the composer (managed in the admin).

    The text may hold {{contact_name}}, {{agent_name}} and {{record}}, filled when it is chosen
    (chat.canned.canned_fill). With a team, only that team's members are offered it.
    """

    shortcut = models.SlugField(max_length=32, unique=True, help_text='Typed after "/" in the composer, e.g. "thanks".')
    text = models.TextField(
        max_length=4096,
        help_text="Placeholders: {{contact_name}}, {{agent_name}}, {{record}} (the linked record's type and id).",
    )
    team = models.ForeignKey(
        "chat.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_responses",
        help_text="Offered only to this team's members; empty for everyone.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "whatsapp_canned_responses"
        ordering = ["shortcut"]

    def __str__(self):
        return f"/{self.shortcut}"
