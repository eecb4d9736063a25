"""The team inbox over the API: each row's status, assignee and team, and the routes that find a conversation."""

import pytest
from django.contrib.auth import get_user_model

from chat.models import Conversation, Team
from chat.selectors.conversations import conversation_ref

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
