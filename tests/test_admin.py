import pytest
from django.urls import reverse

from chat.models import Conversation, Message, MessageTemplate
from chat.services import conversation_get_or_create
from integrations.models import WebhookEvent
from links.services import entity_link_create


@pytest.fixture
def records(db):
    conversation = conversation_get_or_create(phone="+919876543210", name="Asha")
    message = Message.objects.create(
        conversation=conversation, direction="inbound", message_body="<b>hi</b>", whatsapp_message_id="wamid.X"
    )
    link = entity_link_create(message=message, entity_type="project", entity_id="42")
    template = MessageTemplate.objects.create(name="order_update", language="en_US", status="APPROVED")
    event = WebhookEvent.objects.create(body=b'{"object": "whatsapp_business_account"}')
    return [conversation, message, link, template, event]


def test_it_renders_every_admin_list_change_and_search_page(admin_client, records):
    for obj in records:
        meta = obj._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert admin_client.get(changelist).status_code == 200
        assert admin_client.get(changelist, {"q": "9876"}).status_code == 200
        change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
        assert admin_client.get(change).status_code == 200


def test_it_filters_messages_by_direction_type_status_and_date(admin_client, records):
    url = reverse("admin:chat_message_changelist")
    response = admin_client.get(url, {"direction": "inbound", "message_type": "text", "status": "queued"})
    assert response.status_code == 200
    assert admin_client.get(url, {"created_at__gte": "2020-01-01"}).status_code == 200


def test_it_shows_webhook_payloads_read_only(admin_client, records):
    event = records[-1]
    response = admin_client.get(reverse("admin:integrations_webhookevent_change", args=[event.pk]))
    body = response.content.decode()
    assert "whatsapp_business_account" in body
    assert 'name="_save"' not in body
    assert admin_client.get(reverse("admin:integrations_webhookevent_add")).status_code == 403


def test_it_escapes_customer_text_in_the_admin(admin_client, records):
    response = admin_client.get(reverse("admin:chat_message_changelist"))
    assert "<b>hi</b>" not in response.content.decode()
    assert Conversation.objects.count() == 1
