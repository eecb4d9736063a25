"""Labels and the contact's names over the API: each row's labels, the list's label filter, adding and removing."""

import pytest
from django.contrib.auth import get_user_model

from chat.models import Conversation, Label, Message
from chat.services import inbox

pytestmark = pytest.mark.django_db

API = "/api/whatsapp/conversations"


@pytest.fixture
def labels(db):
    return Label.objects.create(name="VIP", colour="green"), Label.objects.create(name="Supplier", colour="blue")


def lines(chat):
    return list(
        Message.objects.filter(conversation=chat, message_type="activity").values_list("message_body", flat=True)
    )


def test_each_row_carries_its_labels_and_both_names(api_client, agent, labels):
    vip, supplier = labels
    chat = Conversation.objects.create(other_party="+919876543210", contact_name="asha_p")
    chat.labels.add(vip, supplier)
    inbox.conversation_rename(conversation=chat, actor=agent, name="Asha Patel")
    Conversation.objects.create(other_party="+919876543211", contact_name="Ravi")
    rows = {row["phone"]: row for row in api_client.get(API).json()["results"]}
    labelled, plain = rows["+919876543210"], rows["+919876543211"]
    assert labelled["labels"] == ["Supplier", "VIP"]
    assert (labelled["display_name"], labelled["staff_name"], labelled["contact_name"]) == (
        "Asha Patel",
        "Asha Patel",
        "asha_p",
    )
    assert (plain["labels"], plain["display_name"], plain["staff_name"]) == ([], "Ravi", "")


def test_it_lists_only_the_conversations_with_a_label_among_the_other_filters(api_client, labels):
    vip, supplier = labels
    ravi = get_user_model().objects.create_user("ravi")
    first = Conversation.objects.create(other_party="+919876543210", assignee=ravi)
    second = Conversation.objects.create(other_party="+919876543211")
    Conversation.objects.create(other_party="+919876543212")
    first.labels.add(vip)
    second.labels.add(vip, supplier)

    def phones(query):
        return sorted(row["phone"] for row in api_client.get(API, query).json()["results"])

    assert phones({"label": "VIP"}) == ["+919876543210", "+919876543211"]
    assert phones({"label": "Supplier"}) == ["+919876543211"]
    assert phones({"label": "VIP", "assignee": "none"}) == ["+919876543211"]


@pytest.mark.parametrize("value", ["Nope", "x" * 40, "a\x00"])
def test_an_unknown_label_filter_is_a_400_naming_it(api_client, labels, value):
    response = api_client.get(API, {"label": value})
    assert response.status_code == 400
    assert response.json()["field"] == "label"


def test_it_puts_a_label_on_and_takes_it_off_by_any_reference(api_client, labels):
    chat = Conversation.objects.create(other_party="+919876543210", wa_user_id="US.1349")
    added = api_client.post(f"{API}/+919876543210/labels", {"label": "VIP"}, format="json")
    assert added.status_code == 200
    assert added.json()["labels"] == ["VIP"]
    again = api_client.post(f"{API}/{chat.pk}/labels", {"label": "VIP"}, format="json")
    assert again.json()["labels"] == ["VIP"]
    removed = api_client.delete(f"{API}/US.1349/labels", {"label": "VIP"}, format="json")
    assert removed.status_code == 200
    assert removed.json()["labels"] == []
    api_client.post(f"{API}/{chat.pk}/labels", {"label": "Supplier"}, format="json")
    by_query = api_client.delete(f"{API}/{chat.pk}/labels?label=Supplier")
    assert by_query.json()["labels"] == []
    assert lines(chat) == [
        "alice added the label VIP",
        "alice removed the label VIP",
        "alice added the label Supplier",
        "alice removed the label Supplier",
    ]


@pytest.mark.parametrize("method", ["post", "delete"])
@pytest.mark.parametrize(
    "body", [{}, {"label": ""}, {"label": "Nope"}, {"label": None}, {"label": 12}, {"label": "x" * 33}]
)
def test_a_missing_or_unknown_label_is_a_400_naming_the_field(api_client, labels, method, body):
    Conversation.objects.create(other_party="+919876543210")
    response = getattr(api_client, method)(f"{API}/+919876543210/labels", body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "label"


@pytest.mark.parametrize("method", ["post", "delete"])
def test_a_conversation_that_is_not_there_or_hidden_is_a_404(api_client, labels, settings, method):
    assert (
        getattr(api_client, method)(f"{API}/+919876543299/labels", {"label": "VIP"}, format="json").status_code == 404
    )
    settings.CHAT_AGENTS_SEE_OWN_ONLY = True
    hidden = Conversation.objects.create(
        other_party="+919876543210", assignee=get_user_model().objects.create_user("ravi")
    )
    response = getattr(api_client, method)(f"{API}/{hidden.pk}/labels", {"label": "VIP"}, format="json")
    assert response.status_code == 404
    assert not hidden.labels.exists()


def test_it_sets_and_clears_the_display_name_and_the_profile_name_stays(api_client):
    chat = Conversation.objects.create(other_party="+919876543210", contact_name="asha_p")
    named = api_client.post(f"{API}/{chat.pk}/display-name", {"display_name": "Asha Patel"}, format="json")
    assert named.status_code == 200
    assert (named.json()["display_name"], named.json()["contact_name"]) == ("Asha Patel", "asha_p")
    assert api_client.get(API, {"q": "Patel"}).json()["results"][0]["id"] == chat.pk
    cleared = api_client.post(f"{API}/+919876543210/display-name", {"display_name": ""}, format="json")
    assert (cleared.json()["display_name"], cleared.json()["staff_name"]) == ("asha_p", "")
    assert lines(chat) == ["alice named the contact Asha Patel", "alice cleared the contact's name"]


@pytest.mark.parametrize("body", [{}, {"display_name": None}, {"display_name": "x" * 257}, {"display_name": "a\x00b"}])
def test_a_display_name_it_cannot_store_is_a_400_naming_the_field(api_client, body):
    chat = Conversation.objects.create(other_party="+919876543210")
    response = api_client.post(f"{API}/{chat.pk}/display-name", body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "display_name"
    assert Conversation.objects.get(pk=chat.pk).staff_name == ""
