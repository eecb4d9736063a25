"""A private note never leaves the building: through a real worker and the Cloud API simulator,
the reply written after it reaches WhatsApp and the note does not, in any form."""

import pytest
from django.urls import reverse

from chat.models import Message
from simulator.tests.fixtures import worker_env
from tests.worker import run_celery_worker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
HTMX = {"HTTP_HX_REQUEST": "true"}
NOTE = "@alice the customer is a reseller, offer the trade price"
REPLY = "Thanks, we will call you back today."


def test_a_note_reaches_whatsapp_as_nothing_while_the_reply_after_it_is_sent_once(agent_client, conversation, whatsapp):
    agent_client.post(reverse("chat:note_add", args=[conversation.pk]), {"body": NOTE}, **HTMX)
    with run_celery_worker(env=worker_env(whatsapp)):
        agent_client.post(reverse("chat:message_send", args=[conversation.pk]), {"body": REPLY}, **HTMX)
        reply = Message.objects.get(message_body=REPLY)
        wait_for(lambda: Message.objects.get(pk=reply.pk).whatsapp_message_id, message="the reply sent")

    sends = whatsapp.state()["sends"]
    assert [send["body"]["text"]["body"] for send in sends] == [REPLY]
    assert "trade price" not in str(whatsapp.state())  # not a send, a read receipt, an upload or a typing mark
    note = Message.objects.get(message_body=NOTE)
    assert (note.direction, note.status) == (Message.Direction.INTERNAL, Message.Status.INTERNAL)
    assert not note.whatsapp_message_id
