"""The team inbox over the API: each row's status, assignee and team, and the routes that find a conversation."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chat.models import Conversation, Mention, Message, Team
from chat.selectors.conversations import conversation_ref
from chat.services.notes import note_add
from conftest import agents_group
from integrations.outbound import messages_sweep
from integrations.tasks import message_send_task

pytestmark = pytest.mark.django_db

API = "/api/whatsapp/conversations"


def test_it_shows_status_assignee_and_team_on_each_row(api_client):
    helper = get_user_model().objects.create_user("meera")
    sales = Team.objects.create(name="Sales")
    Conversation.objects.create(other_party="+919876543210", assignee=helper, team=sales)
    Conversation.objects.create(other_party="+919876543211")
    rows = {row["phone"]: row for row in api_client.get(API).json()["results"]}
    assigned, free = rows["+919876543210"], rows["+919876543211"]
    assert (assigned["status"], assigned["assignee"], assigned["team"]) == ("open", "meera", "Sales")
    assert (free["status"], free["assignee"], free["team"], free["snoozed_until"]) == ("open", None, None, None)


# --- One way to name a conversation in a route: id, phone or WhatsApp user id -----------------


@pytest.mark.parametrize(
    ("ref", "meaning"),
    [
        ("42", ("id", 42)),
        ("999999999", ("id", 999999999)),
        ("+919876543210", ("phone", "+919876543210")),
        ("919876543210", ("phone", "+919876543210")),  # WhatsApp's own form, as callers always sent it
        ("0091 98765-43210", ("phone", "+919876543210")),
        ("+123", ("phone", None)),
        ("US.13491208655302741918", ("wa_user_id", "US.13491208655302741918")),
        ("٤٢", ("wa_user_id", "٤٢")),  # only ASCII digits make an id
        ("US.1\x00", ("wa_user_id", None)),
        ("U" * 129, ("wa_user_id", None)),
    ],
)
def test_it_reads_a_reference_as_an_id_a_phone_or_a_user_id(ref, meaning):
    assert conversation_ref(ref) == meaning


def test_it_finds_the_same_conversation_by_id_phone_and_user_id(api_client):
    chat = Conversation.objects.create(other_party="+919876543210", wa_user_id="US.13491208655302741918")
    for ref in (str(chat.pk), "+919876543210", "919876543210", "US.13491208655302741918"):
        response = api_client.post(f"{API}/{ref}/mark-read")
        assert response.status_code == 200, ref


def test_it_names_what_it_looked_for_when_nothing_matches(api_client):
    Conversation.objects.create(other_party="+919876543210")
    expected = {
        "424242": "There is no conversation with this id.",
        "+447911123456": "There is no conversation with this phone number.",
        "US.1": "There is no conversation with this WhatsApp user id.",
        "US.1%00": "There is no conversation with this WhatsApp user id.",
    }
    for ref, sentence in expected.items():
        response = api_client.get(f"{API}/{ref}/messages")
        assert (response.status_code, response.json()["message"]) == (404, sentence)


def test_it_hides_a_colleagues_conversation_when_agents_see_only_their_own(api_client, settings):
    settings.CHAT_AGENTS_SEE_OWN_ONLY = True
    colleague = get_user_model().objects.create_user("ravi")
    theirs = Conversation.objects.create(other_party="+919876543210", assignee=colleague)
    nobodys = Conversation.objects.create(other_party="+919876543211")
    hidden = api_client.get(f"{API}/{theirs.pk}/messages")
    assert (hidden.status_code, hidden.json()["message"]) == (404, "There is no conversation with this id.")
    assert api_client.get(f"{API}/+919876543210/messages").status_code == 404
    assert api_client.get(f"{API}/{nobodys.pk}/messages").status_code == 200


# --- The list, filtered as the sidebar filters ------------------------------------------------


def phones(response):
    assert response.status_code == 200, response.json()
    return sorted(row["phone"] for row in response.json()["results"])


@pytest.fixture
def inbox_rows(agent):
    """Four conversations: alice's (Sales), ravi's (Sales, resolved), nobody's, and nobody's snoozed."""
    ravi = get_user_model().objects.create_user("ravi")
    ravi.groups.add(agents_group())
    sales = Team.objects.create(name="Sales")
    Conversation.objects.create(other_party="+919876543210", assignee=agent, team=sales)
    Conversation.objects.create(other_party="+919876543211", assignee=ravi, team=sales, status="resolved")
    Conversation.objects.create(other_party="+919876543212")
    Conversation.objects.create(other_party="+919876543213", status="snoozed")
    return ravi


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["+919876543210", "+919876543211", "+919876543212", "+919876543213"]),
        ({"status": "open"}, ["+919876543210", "+919876543212"]),
        ({"status": "resolved"}, ["+919876543211"]),
        ({"status": "snoozed"}, ["+919876543213"]),
        ({"assignee": "me"}, ["+919876543210"]),
        ({"assignee": "none"}, ["+919876543212", "+919876543213"]),
        ({"assignee": "ravi"}, ["+919876543211"]),
        ({"team": "Sales"}, ["+919876543210", "+919876543211"]),
        ({"team": "Sales", "status": "open"}, ["+919876543210"]),
        ({"team": "Sales", "assignee": "ravi", "status": "resolved"}, ["+919876543211"]),
        ({"assignee": "none", "team": "Sales"}, []),
    ],
)
def test_it_filters_the_list_by_status_assignee_and_team(api_client, inbox_rows, query, expected):
    assert phones(api_client.get(API, query)) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"assignee": "nobody-by-this-name"}, "assignee"),
        ({"assignee": "charlie"}, "assignee"),  # a user, but without the chat permission
        ({"team": "Support"}, "team"),
        ({"team": "x" * 65}, "team"),
    ],
)
def test_it_names_an_unknown_filter_value(api_client, inbox_rows, outsider, query, field):
    response = api_client.get(API, query)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_it_pages_a_filtered_list(api_client, agent):
    for n in range(5):
        Conversation.objects.create(other_party=f"+91987654321{n}", assignee=agent if n % 2 else None)
    first = api_client.get(API, {"assignee": "none", "limit": 2}).json()
    rest = api_client.get(first["next"]).json()
    assert len(first["results"]) == 2
    assert [row["assignee"] for row in first["results"] + rest["results"]] == [None, None, None]
    assert rest["next"] is None


def test_it_lists_only_what_the_caller_may_see(api_client, inbox_rows, settings):
    settings.CHAT_AGENTS_SEE_OWN_ONLY = True
    assert phones(api_client.get(API, {"assignee": "ravi"})) == []
    assert phones(api_client.get(API, {"team": "Sales"})) == ["+919876543210"]


# --- Assign ---------------------------------------------------------------------------------


@pytest.fixture
def chat():
    return Conversation.objects.create(other_party="+919876543219")


def assign(client, chat, body):
    return client.post(f"{API}/{chat.pk}/assign", body, format="json")


def activity(chat):
    return list(chat.messages.filter(message_type="activity").values_list("message_body", flat=True))


def test_it_assigns_to_a_colleague_and_a_team_and_says_so_in_the_thread(api_client, inbox_rows, chat):
    response = assign(api_client, chat, {"assignee": "ravi", "team": "Sales"})
    assert response.status_code == 200
    assert (response.json()["assignee"], response.json()["team"]) == ("ravi", "Sales")
    chat.refresh_from_db()
    assert (chat.assignee.username, chat.team.name) == ("ravi", "Sales")
    assert activity(chat) == ["alice assigned this to ravi (Sales)"]


def test_it_keeps_a_field_left_out_and_clears_a_null_one(api_client, inbox_rows, chat):
    assign(api_client, chat, {"assignee": "ravi", "team": "Sales"})
    kept = assign(api_client, chat, {"assignee": "alice"}).json()
    assert (kept["assignee"], kept["team"]) == ("alice", "Sales")
    cleared = assign(api_client, chat, {"team": None}).json()
    assert (cleared["assignee"], cleared["team"]) == ("alice", None)
    nobody = assign(api_client, chat, {"assignee": None}).json()
    assert (nobody["assignee"], nobody["team"]) == (None, None)


def test_it_hands_over_to_another_team_unless_the_agent_is_a_member(api_client, inbox_rows, chat, agent):
    support = Team.objects.create(name="Support")
    assign(api_client, chat, {"assignee": "ravi"})
    assert assign(api_client, chat, {"team": "Support"}).json()["assignee"] is None
    support.members.add(agent)
    assign(api_client, chat, {"assignee": "alice", "team": None})
    assert assign(api_client, chat, {"team": "Support"}).json()["assignee"] == "alice"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"assignee": "nobody-by-this-name"}, "assignee"),
        ({"assignee": "charlie"}, "assignee"),  # no chat permission
        ({"assignee": "ravi", "team": "Support"}, "team"),  # a good assignee is not half-applied
        ({"team": ""}, "team"),
        ({"assignee": 42}, "assignee"),
        ({"assignee": "x" * 151}, "assignee"),
    ],
)
def test_it_refuses_an_unknown_colleague_or_team_and_changes_nothing(
    api_client, inbox_rows, outsider, chat, body, field
):
    response = assign(api_client, chat, body)
    assert response.status_code == 400
    assert response.json()["field"] == field
    chat.refresh_from_db()
    assert (chat.assignee, chat.team, activity(chat)) == (None, None, [])


# --- Status ---------------------------------------------------------------------------------


def set_status(client, chat, body):
    return client.post(f"{API}/{chat.pk}/status", body, format="json")


def test_it_resolves_and_reopens(api_client, chat):
    assert set_status(api_client, chat, {"status": "resolved"}).json()["status"] == "resolved"
    assert set_status(api_client, chat, {"status": "open"}).json()["status"] == "open"
    assert activity(chat) == ["alice resolved this", "alice reopened this"]


def test_it_snoozes_until_a_time(api_client, chat):
    until = timezone.now() + timedelta(days=2)
    body = set_status(api_client, chat, {"status": "snoozed", "until": until.isoformat()}).json()
    assert body["status"] == "snoozed"
    assert parse_datetime(body["snoozed_until"]) == until
    chat.refresh_from_db()
    assert (chat.status, chat.snoozed_until) == ("snoozed", until)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "closed"}, "status"),
        ({}, "status"),
        ({"status": "snoozed"}, "until"),
        ({"status": "snoozed", "until": "tomorrow"}, "until"),
        ({"status": "snoozed", "until": "2001-01-01T00:00:00Z"}, "until"),  # in the past
        ({"status": "snoozed", "until": "2999-01-01T00:00:00Z"}, "until"),  # longer than a year
        ({"status": "resolved", "until": "2999-01-01T00:00:00Z"}, "until"),  # only a snooze ends
    ],
)
def test_it_names_a_bad_status_or_time(api_client, chat, body, field):
    response = set_status(api_client, chat, body)
    assert response.status_code == 400
    assert response.json()["field"] == field
    chat.refresh_from_db()
    assert (chat.status, chat.snoozed_until) == ("open", None)


# --- Mark unread ----------------------------------------------------------------------------


def test_it_brings_the_unread_badge_back(api_client, chat):
    response = api_client.post(f"{API}/+919876543219/mark-unread")
    assert (response.status_code, response.json()) == (200, {"unread_count": 1})
    chat.refresh_from_db()
    assert chat.unread_count == 1
    assert not chat.messages.exists()  # nothing to WhatsApp, no line in the thread


# --- Notes ----------------------------------------------------------------------------------


def add_note(client, chat, body, **headers):
    return client.post(f"{API}/{chat.pk}/notes", body, format="json", headers=headers)


def test_it_adds_a_note_that_never_goes_to_whatsapp(api_client, chat, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = add_note(api_client, chat, {"body": "They want the quote by Friday"})
    assert response.status_code == 201
    note = response.json()
    assert (note["author"], note["body"], note["conversation_id"]) == (
        "alice",
        "They want the quote by Friday",
        chat.pk,
    )
    assert enqueued == {"send": [], "mark_read": [], "typing": [], "fetch": []}  # nothing for WhatsApp
    row = Message.objects.get(pk=note["id"])
    assert (row.direction, row.message_type, row.status) == ("internal", "note", "internal")
    chat.refresh_from_db()
    assert (chat.unread_count, chat.last_message_preview) == (0, "")


def test_it_tells_the_colleague_a_note_mentions(api_client, inbox_rows, chat):
    add_note(api_client, chat, {"body": "@ravi can you call them?"})
    assert Mention.objects.get().user == inbox_rows


def test_it_links_a_note_to_a_record(api_client, chat):
    response = add_note(api_client, chat, {"body": "Quote sent", "link_to_entity": "7", "entity_type": "lead"})
    assert [(link["entity_type"], link["entity_id"]) for link in response.json()["entity_links"]] == [("lead", "7")]


def test_it_adds_a_note_once_per_idempotency_key(api_client, chat):
    first = add_note(api_client, chat, {"body": "Quote sent"}, **{"Idempotency-Key": "note-1"})
    again = add_note(api_client, chat, {"body": "Quote sent"}, **{"Idempotency-Key": "note-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert chat.messages.count() == 1


def test_it_refuses_a_key_already_used_for_something_else(api_client, chat):
    other = Conversation.objects.create(other_party="+447911123456")
    add_note(api_client, other, {"body": "Elsewhere"}, **{"Idempotency-Key": "note-1"})
    response = add_note(api_client, chat, {"body": "Here"}, **{"Idempotency-Key": "note-1"})
    assert (response.status_code, response.json()["field"]) == (400, "Idempotency-Key")
    assert not chat.messages.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "x" * 4097}, "body"),
        ({"body": "Quote", "link_to_entity": "7"}, "entity_type"),
        ({"body": "Quote", "link_to_entity": "7", "entity_type": "spaceship"}, "entity_type"),
    ],
)
def test_it_names_what_is_wrong_with_a_note(api_client, chat, body, field):
    response = add_note(api_client, chat, body)
    assert (response.status_code, response.json()["field"]) == (400, field)
    assert not chat.messages.exists()


def test_it_pages_the_notes_newest_first_without_the_customers_messages(api_client, chat, agent):
    notes = [note_add(conversation=chat, author=agent, body=f"note {n}").pk for n in range(3)]
    Message.objects.create(conversation=chat, direction="inbound", message_body="hi", whatsapp_message_id="w1")
    first = api_client.get(f"{API}/{chat.pk}/notes", {"limit": 2}).json()
    rest = api_client.get(first["next"]).json()
    assert [row["id"] for row in first["results"] + rest["results"]] == notes[::-1]
    assert rest["next"] is None


def test_it_lists_a_filtered_inbox_in_a_constant_number_of_queries(api_client, inbox_rows, django_assert_num_queries):
    query = {"status": "open", "assignee": "ravi", "team": "Sales"}
    sales = Team.objects.get(name="Sales")
    Conversation.objects.create(other_party="+447911123499", assignee=inbox_rows, team=sales)
    api_client.get(API, query)
    with django_assert_num_queries(5) as few:  # the user, the colleague, the team, the page, its rows' labels
        api_client.get(API, query)
    for n in range(20):
        Conversation.objects.create(other_party=f"+4479111234{n:02}", assignee=inbox_rows, team=sales)
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(api_client.get(API, query).json()["results"]) == 21


def test_it_never_lets_the_sender_deliver_a_note(api_client, whatsapp, chat):
    note = add_note(api_client, chat, {"body": "Internal only"}).json()
    # Even handed straight to the send task and the sweeper, a note is not the sender's to claim.
    assert message_send_task(note["id"]) == "skipped"
    messages_sweep()
    assert whatsapp.state()["sends"] == []
    assert Message.objects.get(pk=note["id"]).status == "internal"
