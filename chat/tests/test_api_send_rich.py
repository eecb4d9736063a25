"""POST /api/whatsapp/send-location, send-contact and send-interactive.

The composer's checks (chat.rich_messages), answered as 400s naming the field."""

import pytest
from django.utils import timezone

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

PHONE = "+919876543210"


@pytest.fixture
def open_conversation():
    return Conversation.objects.create(
        other_party=PHONE, contact_name="Asha", last_inbound_at=timezone.now() - timezone.timedelta(hours=1)
    )


def send(client, path, payload):
    return client.post(f"/api/whatsapp/{path}", payload, format="json")


def test_it_queues_a_location(api_client, open_conversation, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = send(api_client, "send-location", {"to_phone": PHONE, "latitude": "19.076", "longitude": 72.8777})
    assert response.status_code == 202
    message = Message.objects.get()
    assert message.data == {"location": {"latitude": 19.076, "longitude": 72.8777}}
    assert enqueued["send"] == [message.pk]
    assert response.json()["message_type"] == "location"


def test_it_queues_a_contact_card(api_client, open_conversation):
    response = send(api_client, "send-contact", {"to_phone": PHONE, "name": "Ravi", "phone": "+919876500000"})
    assert response.status_code == 202
    assert Message.objects.get().data["contacts"][0]["name"]["formatted_name"] == "Ravi"


def test_it_queues_reply_buttons_and_a_list(api_client, open_conversation):
    buttons = send(api_client, "send-interactive", {"to_phone": PHONE, "body": "OK?", "buttons": ["Yes", "No"]})
    rows = [{"title": "Morning", "description": "9 to 12"}, {"title": "Evening"}]
    listed = send(api_client, "send-interactive", {"to_phone": PHONE, "body": "When?", "button": "Pick", "rows": rows})
    assert (buttons.status_code, listed.status_code) == (202, 202)
    kinds = [m.data["interactive"]["type"] for m in Message.objects.order_by("id")]
    assert kinds == ["button", "list"]


@pytest.mark.parametrize(
    ("path", "payload", "field", "words"),
    [
        ("send-location", {"latitude": "95", "longitude": "1"}, "latitude", "between -90 and 90"),
        ("send-contact", {"name": "Ravi", "phone": "none"}, "phone", "digits, with the country code"),
        ("send-interactive", {"body": "OK?", "buttons": ["Yes", "n" * 21]}, "buttons[1]", "Button 2: at most 20"),
        ("send-interactive", {"body": "OK?", "buttons": ["a", "b", "c", "d"]}, "buttons", "at most 3"),
        ("send-interactive", {"body": "OK?", "button": "Pick", "rows": [{"title": "r" * 25}]}, "rows", "Row 1"),
        (
            "send-interactive",
            {"body": "OK?", "button": "Pick", "rows": [{"title": str(n)} for n in range(11)]},
            "rows",
            "at most 10",
        ),
        ("send-interactive", {"body": "OK?", "button": "", "rows": [{"title": "a"}]}, "button", "List button"),
        ("send-interactive", {"body": "OK?"}, "buttons", "either buttons"),
    ],
)
def test_it_refuses_past_whatsapps_limits_with_a_400_naming_the_field(
    api_client, open_conversation, path, payload, field, words
):
    response = send(api_client, path, {"to_phone": PHONE, **payload})
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert words in response.json()["message"]
    assert not Message.objects.exists()


def test_a_refused_send_to_a_new_number_creates_no_conversation(api_client):
    response = send(api_client, "send-location", {"to_phone": "+14155550123", "latitude": "x", "longitude": "1"})
    assert response.status_code == 400
    assert not Conversation.objects.exists()


def test_outside_the_window_it_answers_422(api_client, db):
    Conversation.objects.create(other_party=PHONE, last_inbound_at=timezone.now() - timezone.timedelta(days=2))
    response = send(api_client, "send-location", {"to_phone": PHONE, "latitude": "1", "longitude": "1"})
    assert response.status_code == 422
