"""The team inbox over the API: each row's status, assignee and team."""

import pytest
from django.contrib.auth import get_user_model

from chat.models import Conversation, Team

pytestmark = pytest.mark.django_db


def test_it_shows_status_assignee_and_team_on_each_row(api_client):
    helper = get_user_model().objects.create_user("meera")
    sales = Team.objects.create(name="Sales")
    Conversation.objects.create(other_party="+919876543210", assignee=helper, team=sales)
    Conversation.objects.create(other_party="+919876543211")
    rows = {row["phone"]: row for row in api_client.get("/api/whatsapp/conversations").json()["results"]}
    assigned, free = rows["+919876543210"], rows["+919876543211"]
    assert (assigned["status"], assigned["assignee"], assigned["team"]) == ("open", "meera", "Sales")
    assert (free["status"], free["assignee"], free["team"], free["snoozed_until"]) == ("open", None, None, None)
