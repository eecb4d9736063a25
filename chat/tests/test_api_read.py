"""The reading endpoints: conversations, messages, mark-read, entity links, templates, stats."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from chat.models import Conversation, Message, MessageTemplate
from chat.services import conversation_apply_message
from links.models import EntityLink
from links.services import entity_link_create

pytestmark = pytest.mark.django_db


def customer(phone, name="", minutes_ago=None):
    at = timezone.now() - timedelta(minutes=minutes_ago) if minutes_ago is not None else None
    return Conversation.objects.create(other_party=phone, contact_name=name, last_message_at=at)


def inbound(conversation, body="hi", **fields):
    message = Message.objects.create(
        conversation=conversation,
        direction="inbound",
        status="received",
        from_phone=conversation.other_party,
        other_party=conversation.other_party,
        message_body=body,
        **fields,
    )
    conversation_apply_message(message=message)
    return message


def cursor_of(next_url):
    return parse_qs(urlsplit(next_url).query)["cursor"][0]


# --- conversations ----------------------------------------------------------------------


def test_it_lists_conversations_by_latest_activity_in_cursor_pages(api_client):
    for minute in range(5):
        customer(f"+91987654320{minute}", minutes_ago=minute)
    quiet = Conversation.objects.create(other_party="+919876543299")  # never any message
    first = api_client.get("/api/whatsapp/conversations?limit=2").json()
    assert [row["phone"] for row in first["results"]] == ["+919876543200", "+919876543201"]
    second = api_client.get(first["next"]).json()
    assert [row["phone"] for row in second["results"]] == ["+919876543202", "+919876543203"]
    third = api_client.get(second["next"]).json()
    assert [row["phone"] for row in third["results"]] == ["+919876543204", quiet.other_party]
    assert third["next"] is None


def test_it_searches_conversations_by_phone_or_name(api_client):
    customer("+919876543210", "Asha Rao", minutes_ago=1)
    customer("+447911123456", "Ben Hall", minutes_ago=2)
    by_digits = api_client.get("/api/whatsapp/conversations", {"q": "98765 43210"}).json()["results"]
    by_name = api_client.get("/api/whatsapp/conversations", {"q": "hall"}).json()["results"]
    assert [row["contact_name"] for row in by_digits] == ["Asha Rao"]
    assert [row["phone"] for row in by_name] == ["+447911123456"]


def test_it_lists_conversations_in_a_constant_number_of_queries(api_client, django_assert_num_queries):
    customer("+919876543200", minutes_ago=1)
    api_client.get("/api/whatsapp/conversations")  # warm the permission cache of the first request
    with django_assert_num_queries(3) as few:  # the user, the page, its rows' labels
        assert api_client.get("/api/whatsapp/conversations").status_code == 200
    for minute in range(30):
        customer(f"+4479111234{minute:02d}", minutes_ago=minute + 2)
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(api_client.get("/api/whatsapp/conversations").json()["results"]) == 31


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "WzEsMiwzXQ"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"q": "x" * 101}, "q"),
    ],
)
def test_it_names_a_bad_list_parameter(api_client, query, field):
    response = api_client.get("/api/whatsapp/conversations", query)
    assert response.status_code == 400
    assert response.json()["field"] == field


# --- a conversation's messages and mark-read ----------------------------------------------


def test_it_pages_a_conversations_messages_newest_first(api_client):
    conversation = customer("+919876543210")
    ids = [inbound(conversation, body=f"m{n}").pk for n in range(5)]
    inbound(customer("+447911123456"))  # another customer's message stays out
    first = api_client.get("/api/whatsapp/conversations/+919876543210/messages?limit=3").json()
    assert [row["id"] for row in first["results"]] == ids[::-1][:3]
    second = api_client.get(first["next"]).json()
    assert [row["id"] for row in second["results"]] == ids[::-1][3:]
    assert second["next"] is None


def test_it_finds_the_conversation_by_any_way_of_writing_the_number(api_client):
    inbound(customer("+919876543210"))
    response = api_client.get("/api/whatsapp/conversations/919876543210/messages")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_it_answers_404_for_a_number_without_a_conversation(api_client):
    response = api_client.get("/api/whatsapp/conversations/+919876543210/messages")
    assert response.status_code == 404
    assert response.json()["message"] == "There is no conversation with this phone number."


def test_it_reads_messages_in_a_constant_number_of_queries(api_client, django_assert_num_queries):
    conversation = customer("+919876543210")
    entity_link_create(message=inbound(conversation), entity_type="lead", entity_id="7")
    url = "/api/whatsapp/conversations/+919876543210/messages"
    api_client.get(url)
    with django_assert_num_queries(4) as few:
        api_client.get(url)
    for n in range(20):
        entity_link_create(message=inbound(conversation), entity_type="project", entity_id=str(n))
    with django_assert_num_queries(len(few.captured_queries)):
        body = api_client.get(url).json()
    assert len(body["results"]) == 21
    assert body["results"][0]["entity_links"][0]["entity_id"] == "19"


def test_it_marks_a_conversation_read_and_queues_one_receipt(api_client, enqueued, django_capture_on_commit_callbacks):
    conversation = customer("+919876543210")
    inbound(conversation, whatsapp_message_id="wamid.1")
    newest = inbound(conversation, whatsapp_message_id="wamid.2")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/whatsapp/conversations/+919876543210/mark-read")
    assert response.status_code == 200
    assert response.json() == {"marked_read": 2}
    conversation.refresh_from_db()
    assert conversation.unread_count == 0
    assert not Message.objects.filter(read=False).exists()
    assert enqueued["mark_read"] == [newest.pk]


# --- entity links -----------------------------------------------------------------------


def test_it_lists_the_messages_linked_to_a_record(api_client):
    conversation = customer("+919876543210")
    linked = [inbound(conversation) for _ in range(3)]
    for message in linked:
        entity_link_create(message=message, entity_type="project", entity_id="42")
    entity_link_create(message=inbound(conversation), entity_type="project", entity_id="43")
    body = api_client.get("/api/whatsapp/entity-messages/project/42?limit=2").json()
    assert (body["entity_type"], body["entity_id"]) == ("project", "42")
    assert [row["id"] for row in body["results"]] == [linked[2].pk, linked[1].pk]
    rest = api_client.get(body["next"]).json()
    assert [row["id"] for row in rest["results"]] == [linked[0].pk]


def test_it_lists_entity_messages_in_a_constant_number_of_queries(api_client, django_assert_num_queries):
    conversation = customer("+919876543210")
    entity_link_create(message=inbound(conversation), entity_type="lead", entity_id="7")
    url = "/api/whatsapp/entity-messages/lead/7"
    api_client.get(url)  # warm the permission cache
    with django_assert_num_queries(3) as few:
        api_client.get(url)
    for _ in range(15):
        entity_link_create(message=inbound(conversation), entity_type="lead", entity_id="7")
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(api_client.get(url).json()["results"]) == 16


def test_it_refuses_an_unknown_entity_type_in_the_path(api_client):
    response = api_client.get("/api/whatsapp/entity-messages/invoice/42")
    assert response.status_code == 400
    assert response.json()["field"] == "entity_type"
    assert "project, petty_cash, lead, employee" in response.json()["message"]


def test_it_links_and_unlinks_a_message(api_client, agent):
    message = inbound(customer("+919876543210"))
    url = f"/api/whatsapp/messages/{message.pk}/links"
    created = api_client.post(url, {"entity_type": "lead", "entity_id": "9"}, format="json")
    assert created.status_code == 201
    assert created.json()["message_id"] == message.pk
    assert EntityLink.objects.get().created_by == agent
    again = api_client.post(url, {"entity_type": "lead", "entity_id": "9"}, format="json")
    assert again.status_code == 201
    assert EntityLink.objects.count() == 1
    assert api_client.delete(f"{url}?entity_type=lead&entity_id=9").status_code == 204
    assert not EntityLink.objects.exists()
    gone = api_client.delete(url, {"entity_type": "lead", "entity_id": "9"}, format="json")
    assert gone.status_code == 404
    assert gone.json()["message"] == "This message is not linked to that record."


def test_it_names_bad_link_input(api_client):
    message = inbound(customer("+919876543210"))
    url = f"/api/whatsapp/messages/{message.pk}/links"
    unknown = api_client.post(url, {"entity_type": "invoice", "entity_id": "9"}, format="json")
    long_id = api_client.post(url, {"entity_type": "lead", "entity_id": "9" * 65}, format="json")
    missing = api_client.delete(url)
    assert unknown.status_code == long_id.status_code == missing.status_code == 400
    assert unknown.json()["field"] == "entity_type"
    assert long_id.json()["field"] == "entity_id"
    assert {error["field"] for error in missing.json()["errors"]} == {"entity_type", "entity_id"}


def test_it_answers_404_for_links_of_an_unknown_message(api_client):
    response = api_client.post("/api/whatsapp/messages/999999/links", {"entity_type": "lead", "entity_id": "9"})
    assert response.status_code == 404
    assert response.json()["message"] == "There is no message with id 999999."


# --- templates --------------------------------------------------------------------------


def test_it_lists_templates_with_their_parameter_count(api_client, django_assert_num_queries):
    MessageTemplate.objects.create(
        name="welcome", language="en_US", status="APPROVED", components=[{"type": "BODY", "text": "Hi {{1}}"}]
    )
    MessageTemplate.objects.create(name="promo", language="en_US", status="REJECTED", components=[])
    everything = api_client.get("/api/whatsapp/templates").json()
    approved = api_client.get("/api/whatsapp/templates?status=approved").json()
    assert [(row["name"], row["parameter_count"]) for row in everything] == [("promo", 0), ("welcome", 1)]
    assert [row["name"] for row in approved] == ["welcome"]


def test_it_names_a_template_status_the_database_cannot_compare(api_client):
    response = api_client.get("/api/whatsapp/templates", {"status": "APPROVED\x00"})
    assert (response.status_code, response.json()["field"]) == (400, "status")


# --- stats ------------------------------------------------------------------------------


def test_it_counts_the_messages_of_the_last_days_across_the_boundary(api_client):
    now = timezone.now()
    asha, ben, cara = customer("+919876543210"), customer("+447911123456"), customer("+14155550123")

    def at(conversation, direction, kind, age):
        message = Message.objects.create(
            conversation=conversation, direction=direction, message_type=kind, created_at=now - age
        )
        conversation_apply_message(message=message)  # as every writer does

    inside = timedelta(days=7) - timedelta(minutes=5)
    outside = timedelta(days=7) + timedelta(minutes=5)
    at(asha, "inbound", "text", timedelta(hours=1))
    at(asha, "inbound", "text", inside)
    at(asha, "outbound", "text", timedelta(minutes=1))
    at(ben, "outbound", "template", timedelta(days=2))
    at(ben, "inbound", "image", inside)
    at(cara, "inbound", "text", outside)  # just before the period: not counted, nor is cara
    at(cara, "outbound", "image", timedelta(days=30))

    body = api_client.get("/api/whatsapp/stats?days=7").json()
    assert body == {
        "total_messages": 5,
        "unique_conversations": 2,
        "breakdown": [
            {"direction": "inbound", "type": "image", "count": 1},
            {"direction": "inbound", "type": "text", "count": 2},
            {"direction": "outbound", "type": "template", "count": 1},
            {"direction": "outbound", "type": "text", "count": 1},
        ],
        "period_days": 7,
    }
    month = api_client.get("/api/whatsapp/stats").json()
    assert (month["total_messages"], month["unique_conversations"], month["period_days"]) == (6, 3, 30)


def test_it_counts_stats_in_two_queries_whatever_the_history(api_client, django_assert_num_queries):
    conversation = customer("+919876543210")
    api_client.get("/api/whatsapp/stats")
    with django_assert_num_queries(3) as few:
        api_client.get("/api/whatsapp/stats")
    for _ in range(10):
        inbound(conversation)
    with django_assert_num_queries(len(few.captured_queries)):
        assert api_client.get("/api/whatsapp/stats").json()["total_messages"] == 10


@pytest.mark.parametrize("days", ["0", "-1", "abc", "3651", "1.5"])
def test_it_names_a_bad_days_value(api_client, days):
    response = api_client.get(f"/api/whatsapp/stats?days={days}")
    assert response.status_code == 400
    assert response.json()["field"] == "days"
