"""Every write that changes what staff see, one named function each, split by entity:

- conversations: finding or creating a customer's conversation, its counters, read state, identity.
- messages: queueing an outbound message, storing an inbound one, reactions, edits and revokes.
- statuses: what WhatsApp reports about our outbound messages (only ever forward).
- sends: a send's outcome, step by step (claim, requeue, leaving, sent, failed, the sweeper).
- media: a message's file (download stored or failed, the link copy) and its backup state.

Views, the API, the webhook parser, the send worker and the admin all call these, so each
change has one path, and each marks the conversation changed (chat.changes) where it writes.
"""

from chat.services.conversations import (
    conversation_apply_message,
    conversation_follow_identity,
    conversation_for_customer,
    conversation_get_or_create,
    conversation_mark_read,
    conversation_touch,
    conversation_typing_indicator,
)
from chat.services.media import (
    message_backup_queue,
    message_backup_set,
    message_media_copy_stored,
    message_media_failed,
    message_media_stored,
)
from chat.services.messages import (
    REACTION_EMOJIS,
    MessageDuplicate,
    SendRefused,
    check_quotable,
    check_service_window,
    message_apply_change,
    message_queue,
    message_queue_media_link,
    message_react,
    message_receive,
    message_retry,
    message_send_buttons,
    message_send_contact,
    message_send_list,
    message_send_location,
    message_send_text,
)
from chat.services.previews import PREVIEW_LABELS, PREVIEW_LENGTH, message_preview
from chat.services.sends import (
    message_send_claim,
    message_send_failed,
    message_send_leaving,
    message_send_media_uploaded,
    message_send_requeue,
    message_send_saved,
    messages_send_sweep,
)
from chat.services.statuses import STATUS_TIME_FIELDS, message_status_apply

__all__ = [
    "PREVIEW_LABELS",
    "PREVIEW_LENGTH",
    "REACTION_EMOJIS",
    "STATUS_TIME_FIELDS",
    "MessageDuplicate",
    "SendRefused",
    "check_quotable",
    "check_service_window",
    "conversation_apply_message",
    "conversation_follow_identity",
    "conversation_for_customer",
    "conversation_get_or_create",
    "conversation_mark_read",
    "conversation_touch",
    "conversation_typing_indicator",
    "message_apply_change",
    "message_backup_queue",
    "message_backup_set",
    "message_media_copy_stored",
    "message_media_failed",
    "message_media_stored",
    "message_preview",
    "message_queue",
    "message_queue_media_link",
    "message_react",
    "message_receive",
    "message_retry",
    "message_send_buttons",
    "message_send_contact",
    "message_send_list",
    "message_send_location",
    "message_send_claim",
    "message_send_failed",
    "message_send_leaving",
    "message_send_media_uploaded",
    "message_send_requeue",
    "message_send_saved",
    "message_send_text",
    "message_status_apply",
    "messages_send_sweep",
]
