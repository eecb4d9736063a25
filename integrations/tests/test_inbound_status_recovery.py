"""A send Meta accepted whose wamid was never saved (the worker died right after Meta's answer, or
the answer never came) is found again through the callback data every send carries."""

import time

import pytest

from chat.errors import INTERRUPTED_TITLE, UNCERTAIN_TITLE
from chat.models import Message
from chat.services import conversation_get_or_create
from integrations.inbound import apply_status

pytestmark = pytest.mark.django_db


def unsaved(**fields):
    conversation = conversation_get_or_create(phone="+919876543210")
    fields.setdefault("status", Message.Status.SENDING)
    return Message.objects.create(conversation=conversation, direction=Message.Direction.OUTBOUND, **fields)


def status(message, name, wamid="wamid.RECOVERED"):
    return {
        "id": wamid,
        "status": name,
        "timestamp": str(int(time.time())),
        "recipient_id": "919876543210",
        "biz_opaque_callback_data": f"madio:{message.pk}",
    }


def test_it_records_the_wamid_of_a_send_left_sending_when_its_status_arrives():
    message = unsaved()
    assert apply_status(status(message, "delivered")) == "applied"
    message.refresh_from_db()
    assert (message.whatsapp_message_id, message.status) == ("wamid.RECOVERED", "delivered")
    assert message.sent_at is not None
    assert message.delivered_at is not None


@pytest.mark.parametrize("title", [INTERRUPTED_TITLE, UNCERTAIN_TITLE])
def test_it_revives_a_send_marked_failed_only_because_its_outcome_was_unknown(title):
    message = unsaved(status=Message.Status.FAILED, error_title=title, error_details="The worker stopped")
    assert apply_status(status(message, "read")) == "applied"
    message.refresh_from_db()
    assert (message.status, message.error_title, message.failed_at) == ("read", "", None)
    assert message.whatsapp_message_id == "wamid.RECOVERED"


def test_it_leaves_a_send_whatsapp_really_refused_alone():
    message = unsaved(status=Message.Status.FAILED, error_code=131026, error_title="Message undeliverable")
    assert apply_status(status(message, "sent")) == "unknown"
    message.refresh_from_db()
    assert (message.status, message.whatsapp_message_id) == ("failed", None)


def test_it_never_moves_a_wamid_that_is_already_saved():
    message = unsaved(whatsapp_message_id="wamid.SAVED", status=Message.Status.SENT)
    assert apply_status(status(message, "delivered", wamid="wamid.OTHER")) == "unknown"
    message.refresh_from_db()
    assert message.whatsapp_message_id == "wamid.SAVED"


def test_it_ignores_callback_data_that_is_not_ours():
    message = unsaved()
    foreign = {**status(message, "sent"), "biz_opaque_callback_data": f"crm:{message.pk}"}
    assert apply_status(foreign) == "unknown"
    assert Message.objects.get(pk=message.pk).whatsapp_message_id is None
