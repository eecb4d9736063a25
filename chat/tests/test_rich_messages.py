"""Locations, contact cards, reply buttons and lists: checked against WhatsApp's limits before anything
is queued, sent once by the send task through the simulator, and shown as bubbles."""

import re

import pytest
from django.urls import reverse

from chat.models import Message
from chat.rich_messages import LIMITS, RichRefused, build_buttons, build_list, list_rows
from chat.services import message_send_buttons, message_send_contact, message_send_list, message_send_location
from integrations.outbound import message_deliver
from integrations.tasks import message_send_task
from integrations.whatsapp import CloudAPIClient, WhatsAppError

HTMX = {"HTTP_HX_REQUEST": "true"}


def sends(simulator):
    return simulator.state()["sends"]


def send(client, chat, **data):
    return client.post(reverse("chat:message_send", args=[chat.pk]), data, **HTMX)


# --- the checks, each naming its field -------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field", "words"),
    [
        (lambda: build_buttons(body="Pick", titles=["x" * 21]), "button_1", "Button 1: at most 20 characters"),
        (lambda: build_buttons(body="Pick", titles=["a", "b", "c", "d"]), "buttons", "at most 3 (these are 4)"),
        (lambda: build_buttons(body="Pick", titles=["", ""]), "button_1", "at least one button"),
        (lambda: build_buttons(body="Pick", titles=["Yes", "yes"]), "buttons", "each title must differ"),
        (lambda: build_buttons(body="", titles=["Yes"]), "buttons_body", "Message: fill it in."),
        (lambda: build_buttons(body="b" * 1025, titles=["Yes"]), "buttons_body", "at most 1,024 characters"),
        (lambda: build_buttons(body="ok", titles=["Yes"], footer="f" * 61), "buttons_footer", "Footer"),
        (lambda: build_list(body="Pick", button="Open", rows=[("r" * 25, "")]), "list_rows", "Row 1: at most 24"),
        (
            lambda: build_list(body="Pick", button="Open", rows=[(str(n), "") for n in range(11)]),
            "list_rows",
            "at most 10",
        ),
        (lambda: build_list(body="Pick", button="Open", rows=[("a", "d" * 73)]), "list_rows", "Row 1's description"),
        (lambda: build_list(body="Pick", button="", rows=[("a", "")]), "list_button", "List button: fill it in."),
        (lambda: build_list(body="Pick", button="Open", rows=[]), "list_rows", "at least one"),
    ],
)
def test_it_refuses_past_whatsapps_limits_naming_the_field(call, field, words):
    with pytest.raises(RichRefused) as refused:
        call()
    assert refused.value.field == field
    assert words in refused.value.reason


def test_it_accepts_exactly_the_limits():
    _, content, _ = build_buttons(body="b" * 1024, titles=["t" * 20, "u" * 20, "v" * 20])
    assert [b["reply"]["title"] for b in content["action"]["buttons"]] == ["t" * 20, "u" * 20, "v" * 20]
    rows = [(f"{n:02d}" + "r" * 22, "d" * 72) for n in range(LIMITS["rows_max"])]
    _, content, _ = build_list(body="Pick", button="b" * 20, rows=rows)
    assert len(content["action"]["sections"][0]["rows"]) == 10


def test_list_rows_are_one_a_line_with_an_optional_description():
    assert list_rows("Today | before 6 pm\r\n\nPick up\n") == [("Today ", " before 6 pm"), ("Pick up", "")]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"latitude": "north", "longitude": "72.8"}, "location_latitude"),
        ({"latitude": "91", "longitude": "72.8"}, "location_latitude"),
        ({"latitude": "19", "longitude": "-181"}, "location_longitude"),
    ],
)
def test_it_refuses_a_location_off_the_map(conversation, agent, fields, field):
    with pytest.raises(RichRefused) as refused:
        message_send_location(conversation=conversation, author=agent, **fields)
    assert refused.value.field == field
    assert not Message.objects.exists()


def test_it_refuses_a_contact_without_a_phone_number(conversation, agent):
    with pytest.raises(RichRefused) as refused:
        message_send_contact(conversation=conversation, author=agent, name="Ravi", phone="call me")
    assert refused.value.field == "contact_phone"


# --- sent once, as Meta's objects, through the simulator ---------------------------------------


def test_a_location_is_sent_once_as_metas_location(whatsapp, conversation, agent):
    message = message_send_location(
        conversation=conversation, author=agent, latitude="19.07598", longitude="72,87766", name="Gateway"
    )
    assert (message.message_type, message.status, message.message_body) == ("location", "queued", "Gateway")
    assert message_send_task(message.pk) == "sent"
    assert message_send_task(message.pk) == "skipped"
    (sent,) = sends(whatsapp)
    assert sent["body"]["type"] == "location"
    assert sent["body"]["location"] == {"latitude": 19.07598, "longitude": 72.87766, "name": "Gateway"}
    message.refresh_from_db()
    assert message.whatsapp_message_id == sent["wamid"]


def test_a_contact_card_is_sent_as_metas_contacts(whatsapp, conversation, agent):
    message = message_send_contact(
        conversation=conversation,
        author=agent,
        name="Ravi Kumar",
        phone="+91 98765 00000",
        email="ravi@example.com",
        org="Madio",
    )
    assert message_deliver(message_id=message.pk) == "sent"
    (sent,) = sends(whatsapp)
    assert sent["body"]["contacts"] == [
        {
            "name": {"formatted_name": "Ravi Kumar", "first_name": "Ravi", "last_name": "Kumar"},
            "phones": [{"phone": "+91 98765 00000", "type": "CELL"}],
            "emails": [{"email": "ravi@example.com", "type": "WORK"}],
            "org": {"company": "Madio"},
        }
    ]


def test_reply_buttons_are_sent_as_metas_interactive_button(whatsapp, conversation, agent):
    message = message_send_buttons(
        conversation=conversation, author=agent, body="Is the delivery time fine?", titles=["Yes", "No", ""]
    )
    assert message_send_task(message.pk) == "sent"
    (sent,) = sends(whatsapp)
    assert sent["body"]["interactive"] == {
        "type": "button",
        "body": {"text": "Is the delivery time fine?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "button-1", "title": "Yes"}},
                {"type": "reply", "reply": {"id": "button-2", "title": "No"}},
            ]
        },
    }


def test_a_list_is_sent_as_metas_interactive_list(whatsapp, conversation, agent):
    message = message_send_list(
        conversation=conversation,
        author=agent,
        body="When shall we deliver?",
        button="Choose a slot",
        rows=list_rows("Morning | 9 to 12\nEvening"),
        footer="Madio",
    )
    assert message_send_task(message.pk) == "sent"
    (sent,) = sends(whatsapp)
    assert sent["body"]["interactive"] == {
        "type": "list",
        "body": {"text": "When shall we deliver?"},
        "footer": {"text": "Madio"},
        "action": {
            "button": "Choose a slot",
            "sections": [
                {
                    "rows": [
                        {"id": "row-1", "title": "Morning", "description": "9 to 12"},
                        {"id": "row-2", "title": "Evening"},
                    ]
                }
            ],
        },
    }


@pytest.mark.parametrize(
    "interactive",
    [
        {
            "type": "button",
            "body": {"text": "x"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "t" * 21}}]},
        },
        {
            "type": "button",
            "body": {"text": "x"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": str(n), "title": str(n)}} for n in range(4)]},
        },
        {
            "type": "list",
            "body": {"text": "x"},
            "action": {"button": "b", "sections": [{"rows": [{"id": str(n), "title": str(n)} for n in range(11)]}]},
        },
        {
            "type": "list",
            "body": {"text": "x"},
            "action": {"button": "b", "sections": [{"rows": [{"id": "1", "title": "r" * 25}]}]},
        },
    ],
)
def test_the_simulator_refuses_interactive_messages_past_metas_limits(client_api, interactive):
    with pytest.raises(WhatsAppError) as refused:
        client_api.send("+919876543210", "interactive", interactive)
    assert refused.value.code == 100


def test_the_simulator_refuses_a_contact_card_without_a_formatted_name(client_api):
    with pytest.raises(WhatsAppError) as refused:
        client_api.send("+919876543210", "contacts", [{"name": {"first_name": "Ravi"}, "phones": []}])
    assert refused.value.code == 131008


# --- the composer's attach menu -----------------------------------------------------------


def test_the_attach_menu_offers_the_four_kinds(agent_client, chat):
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk])).content.decode()
    for kind in ("location", "contact", "buttons", "list"):
        assert f'name="kind" value="{kind}"' in body
    assert "Button 1 (up to 20 characters)" in body


def test_the_composer_queues_reply_buttons_and_shows_them_as_a_bubble(
    agent_client, chat, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = send(agent_client, chat, kind="buttons", buttons_body="Confirm?", button_1="Yes", button_2="No")
    message = Message.objects.get(conversation=chat)
    assert (message.message_type, message.message_body) == ("interactive", "Confirm?")
    assert [callback.args for callback in callbacks] == [(message.pk,)]
    assert "chatChanged" in response["HX-Trigger"]
    thread = agent_client.get(reverse("chat:conversation", args=[chat.pk])).content.decode()
    assert '<ul class="interactive-buttons" aria-label="Reply buttons"><li>Yes</li><li>No</li></ul>' in thread


def test_the_composer_refuses_a_long_button_title_naming_it_and_keeps_the_input(agent_client, chat):
    body = send(
        agent_client, chat, kind="buttons", buttons_body="Confirm?", button_1="Yes", button_2="n" * 25
    ).content.decode()
    assert "Button 2: at most 20 characters (this one has 25)." in body
    assert f'name="button_2" value="{"n" * 25}" aria-invalid="true"' in body
    assert re.search(r"<details name=\"rich-kind-\w+\" class=\"rich rich-buttons\" open>", body)
    assert not Message.objects.exists()


def test_the_composer_refuses_a_list_of_eleven_rows(agent_client, chat):
    rows = "\n".join(f"Row {n}" for n in range(11))
    body = send(agent_client, chat, kind="list", list_body="Pick", list_button="Open", list_rows=rows).content.decode()
    assert "Rows: at most 10 (these are 11)." in body
    assert not Message.objects.exists()


def test_the_composer_refuses_a_fourth_button_posted_anyway(agent_client, chat):
    data = {"kind": "buttons", "buttons_body": "Pick", **{f"button_{n}": str(n) for n in range(1, 5)}}
    assert "Buttons: at most 3 (these are 4)." in send(agent_client, chat, **data).content.decode()


def test_the_composer_sends_a_location_and_a_contact_card_shown_as_inbound_ones_are(agent_client, chat):
    send(
        agent_client,
        chat,
        kind="location",
        location_latitude="19.0760",
        location_longitude="72.8777",
        location_name="Office",
    )
    send(
        agent_client,
        chat,
        kind="contact",
        contact_name="Ravi Kumar",
        contact_phone="+919876500000",
        idempotency_key="c",
    )
    thread = agent_client.get(reverse("chat:conversation", args=[chat.pk])).content.decode()
    assert 'class="location"' in thread
    assert "<strong>Office</strong>" in thread
    assert 'class="contact-card"' in thread
    assert '<span class="contact-phone">+919876500000</span>' in thread


def test_the_composer_refuses_outside_the_window_too(agent_client, db, settings):
    from django.utils import timezone

    from chat.tests.conftest import make_conversation

    closed = make_conversation(inbound_ago=timezone.timedelta(days=3))
    settings.WHATSAPP_ENFORCE_SERVICE_WINDOW = True
    body = send(agent_client, closed, kind="location", location_latitude="1", location_longitude="2").content.decode()
    assert "only allows an approved template" in body
    assert not Message.objects.exists()


def test_a_send_with_a_real_client_is_accepted_by_the_simulator_for_every_kind(whatsapp, conversation, agent):
    client = CloudAPIClient.from_settings()
    for build in (
        lambda: build_buttons(body="Pick", titles=["A", "B", "C"]),
        lambda: build_list(body="Pick", button="Open", rows=[("One", "first")]),
    ):
        _, content, _ = build()
        assert client.send("+919876543210", "interactive", content).startswith("wamid.")


def test_the_composer_drops_nul_characters_rather_than_failing(agent_client, chat):
    send(agent_client, chat, kind="buttons", buttons_body="Pick\x00 one", button_1="Y\x00es")
    content = Message.objects.get().data["interactive"]
    assert content["body"]["text"] == "Pick one"
    assert content["action"]["buttons"][0]["reply"]["title"] == "Yes"
