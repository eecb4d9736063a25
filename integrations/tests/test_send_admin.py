"""The admin: resend failed messages, say why they failed, sync templates with a button."""

import pytest
from django.urls import reverse

from chat.models import Message, MessageTemplate
from chat.services import message_send_text

pytestmark = pytest.mark.django_db


def failed_message(conversation, agent, code=131026):
    message = message_send_text(conversation=conversation, author=agent, body="Did not go")
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.FAILED, error_code=code, error_title="Message undeliverable"
    )
    return message


def test_it_resends_a_failed_message_as_a_new_linked_one(admin_client, conversation, agent):
    failed = failed_message(conversation, agent)
    sent = message_send_text(conversation=conversation, author=agent, body="Went out")
    url = reverse("admin:chat_message_changelist")
    response = admin_client.post(url, {"action": "resend_failed", "_selected_action": [failed.pk, sent.pk]})
    assert response.status_code == 302
    again = Message.objects.get(retry_of=failed)
    assert (again.status, again.message_body, again.conversation_id) == ("queued", "Did not go", conversation.pk)
    assert not Message.objects.filter(retry_of=sent).exists()
    texts = [str(m) for m in admin_client.get(url).context["messages"]]
    assert "Queued 1 message(s) again." in texts
    assert any("Only a failed message can be sent again." in t for t in texts)


def test_it_shows_why_a_message_failed_in_plain_words(admin_client, conversation, agent):
    failed = failed_message(conversation, agent)
    page = admin_client.get(reverse("admin:chat_message_change", args=[failed.pk]))
    assert "the number may not be on WhatsApp" in page.content.decode()


def test_its_button_syncs_templates_from_whatsapp(admin_client, whatsapp):
    changelist = reverse("admin:chat_messagetemplate_changelist")
    assert "Sync from WhatsApp" in admin_client.get(changelist).content.decode()
    response = admin_client.post(reverse("admin:chat_messagetemplate_sync"), follow=True)
    assert MessageTemplate.objects.filter(status="APPROVED").count() == 5
    assert "Synced 6 template(s) from WhatsApp." in response.content.decode()


def test_its_button_says_when_whatsapp_refuses(admin_client, whatsapp, settings):
    settings.WHATSAPP_ACCESS_TOKEN = "expired"
    response = admin_client.post(reverse("admin:chat_messagetemplate_sync"), follow=True)
    assert "WhatsApp refused the template list" in response.content.decode()
    assert MessageTemplate.objects.count() == 0


def test_its_button_needs_a_post(admin_client):
    assert admin_client.get(reverse("admin:chat_messagetemplate_sync")).status_code == 405
