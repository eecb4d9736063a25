import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from chat.changes import messages_mark_back, messages_marked_at
from chat.models import Agent, Conversation, Label, Message, MessageTemplate, Team
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
    team = Team.objects.create(name="Support", auto_assign=True)
    agent = Agent.objects.create(user=get_user_model().objects.create_user(username="ravi"))
    team.members.add(agent.user)
    label = Label.objects.create(name="VIP 9876", colour="green")
    conversation.labels.add(label)
    return [conversation, message, link, template, event, team, agent, label]


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
    event = next(record for record in records if isinstance(record, WebhookEvent))
    response = admin_client.get(reverse("admin:integrations_webhookevent_change", args=[event.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "whatsapp_business_account" in body
    assert 'name="_save"' not in body
    assert admin_client.get(reverse("admin:integrations_webhookevent_add")).status_code == 403


def test_it_escapes_customer_text_in_the_admin(admin_client, records):
    response = admin_client.get(reverse("admin:chat_message_changelist"))
    assert "<b>hi</b>" not in response.content.decode()
    assert Conversation.objects.count() == 1


def test_admin_actions_resolve_and_reopen_through_the_services(admin_client, records):
    conversation = records[0]
    changelist = reverse("admin:chat_conversation_changelist")
    admin_client.post(changelist, {"action": "resolve", "_selected_action": [conversation.pk]})
    assert Conversation.objects.get(pk=conversation.pk).status == "resolved"
    admin_client.post(changelist, {"action": "reopen", "_selected_action": [conversation.pk]})
    assert Conversation.objects.get(pk=conversation.pk).status == "open"
    lines = Message.objects.filter(conversation=conversation, message_type="activity").values_list(
        "message_body", flat=True
    )
    assert [line.split(" ", 1)[1] for line in lines] == ["resolved this", "reopened this"]


def test_labels_are_made_in_the_admin_from_the_palette_and_counted(admin_client, records):
    response = admin_client.post(reverse("admin:chat_label_add"), {"name": "Late payer", "colour": "red"})
    assert response.status_code == 302
    assert Label.objects.get(name="Late payer").colour == "red"
    refused = admin_client.post(reverse("admin:chat_label_add"), {"name": "Pastel", "colour": "#ffccdd"})
    assert refused.status_code == 200  # not one of the palette's colours
    assert not Label.objects.filter(name="Pastel").exists()
    listing = admin_client.get(reverse("admin:chat_label_changelist")).content.decode()
    assert "VIP 9876" in listing
    assert (
        admin_client.get(
            reverse("admin:chat_conversation_changelist"), {"labels__id__exact": Label.objects.get(name="VIP 9876").pk}
        ).status_code
        == 200
    )


def test_a_conversations_labels_and_staff_name_change_only_through_the_services(admin_client, records):
    conversation = records[0]
    page = admin_client.get(reverse("admin:chat_conversation_change", args=[conversation.pk])).content.decode()
    assert 'name="labels"' not in page
    assert 'name="staff_name"' not in page
    assert "VIP 9876" in page  # shown, read-only


def test_renaming_or_deleting_a_label_in_the_admin_redraws_the_rows_that_show_it(admin_client, records):
    conversation, label = records[0], records[-1]
    long_ago = timezone.now() - timezone.timedelta(days=1)
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=long_ago)
    messages_mark_back([conversation.pk], long_ago)
    change = reverse("admin:chat_label_change", args=[label.pk])
    assert admin_client.post(change, {"name": "Gold", "colour": "amber"}).status_code == 302
    assert Conversation.objects.get(pk=conversation.pk).updated_at > long_ago
    assert messages_marked_at(conversation.pk) > long_ago.timestamp()
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=long_ago)
    changelist = reverse("admin:chat_label_changelist")
    admin_client.post(changelist, {"action": "delete_selected", "_selected_action": [label.pk], "post": "yes"})
    assert not Label.objects.exists()
    assert not conversation.labels.exists()
    assert Conversation.objects.get(pk=conversation.pk).updated_at > long_ago
