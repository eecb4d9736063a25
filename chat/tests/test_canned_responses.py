"""Canned responses: "/" in the composer suggests them, filled for the conversation on the server."""

import pytest
from django.urls import reverse

from chat.canned import canned_fill
from chat.models import CannedResponse, Message, Team
from chat.selectors.canned import canned_responses_for
from chat.tests.conftest import make_conversation, make_message
from links.models import EntityLink

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def canned(db):
    support = Team.objects.create(name="Support")
    return {
        "thanks": CannedResponse.objects.create(
            shortcut="thanks", text="Thank you, {{contact_name}}! {{agent_name}} here."
        ),
        "order": CannedResponse.objects.create(shortcut="order", text="About {{ record }}: it ships today."),
        "refund": CannedResponse.objects.create(shortcut="refund", text="Refunds take 5 days.", team=support),
        "support": support,
    }


def suggest(client, chat, typed, **extra):
    url = reverse("chat:canned_suggestions", args=[chat.pk])
    return client.get(url, {"body": typed, **extra}, **HTMX).content.decode()


def test_it_offers_everyones_and_only_my_teams_responses(agent, canned, django_user_model):
    assert [r.shortcut for r in canned_responses_for(user=agent)] == ["order", "thanks"]
    canned["support"].members.add(agent)
    assert [r.shortcut for r in canned_responses_for(user=agent)] == ["order", "refund", "thanks"]
    assert [r.shortcut for r in canned_responses_for(user=agent, prefix="RE")] == ["refund"]


def test_it_fills_the_contact_the_agent_and_the_linked_record(agent, chat, canned):
    agent.first_name, agent.last_name = "Alice", "Rao"
    message = make_message(chat)
    EntityLink.objects.create(message=message, entity_type="petty_cash", entity_id="77")
    text = "{{contact_name}} / {{agent_name}} / {{record}} / {{unknown}}"
    assert canned_fill(text, conversation=chat, agent=agent, record=("petty_cash", "77")) == (
        "Asha Patel / Alice Rao / Petty cash #77 / {{unknown}}"
    )


def test_it_fills_each_placeholder_once_even_when_a_name_looks_like_one(agent, db):
    chat = make_conversation(name="{{agent_name}}")
    assert canned_fill("Hi {{contact_name}}", conversation=chat, agent=agent) == "Hi {{agent_name}}"


def test_typing_a_slash_suggests_the_responses_filled_for_this_conversation(agent_client, chat, canned):
    body = suggest(agent_client, chat, "/")
    assert 'role="listbox"' in body
    assert body.count('role="option"') == 2
    assert 'data-text="Thank you, Asha Patel! alice here."' in body
    assert 'aria-selected="true"' in body


def test_it_narrows_by_the_shortcut_typed(agent_client, chat, canned):
    body = suggest(agent_client, chat, "/th")
    assert "/thanks" in body
    assert "/order" not in body
    assert "No canned response starts with “/zz”." in suggest(agent_client, chat, "/zz")


def test_it_suggests_nothing_unless_the_message_starts_with_a_slash(agent_client, chat, canned):
    assert "listbox" not in suggest(agent_client, chat, "hello /th")
    assert "listbox" not in suggest(agent_client, chat, "/thanks and more")


def test_the_record_is_the_one_linked_to_the_conversations_messages(agent_client, chat, canned):
    assert 'data-text="About : it ships today."' in suggest(agent_client, chat, "/or")
    EntityLink.objects.create(message=make_message(chat), entity_type="project", entity_id="P-9")
    assert 'data-text="About Project #P-9: it ships today."' in suggest(agent_client, chat, "/or")


def test_the_entity_views_composer_fills_its_own_record(agent_client, chat, canned, settings):
    body = suggest(agent_client, chat, "/or", entity_type="lead", entity_id="12")
    assert 'data-text="About Lead #12: it ships today."' in body


def test_it_escapes_what_it_fills_in(agent_client, canned, db):
    chat = make_conversation(name='<img src=x onerror="alert(1)">', inbound_ago=None)
    body = suggest(agent_client, chat, "/th")
    assert "<img" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body


def test_a_team_response_shows_only_to_its_members(agent_client, agent, chat, canned):
    assert "/refund" not in suggest(agent_client, chat, "/re")
    canned["support"].members.add(agent)
    body = suggest(agent_client, chat, "/re")
    assert "/refund" in body
    assert "Support" in body


def test_suggestions_cost_the_same_queries_for_one_or_many_team_responses(
    agent_client, agent, chat, canned, django_assert_num_queries
):
    canned["support"].members.add(agent)
    suggest(agent_client, chat, "/")
    with django_assert_num_queries(4) as few:
        suggest(agent_client, chat, "/")
    for n in range(6):
        CannedResponse.objects.create(shortcut=f"team{n}", text="x", team=canned["support"])
    with django_assert_num_queries(len(few.captured_queries)):
        suggest(agent_client, chat, "/")


def test_it_is_for_chat_users_who_can_see_the_conversation(client, outsider, chat, canned):
    client.force_login(outsider)
    assert client.get(reverse("chat:canned_suggestions", args=[chat.pk]), {"body": "/"}).status_code in (302, 403)


def test_the_composer_asks_for_suggestions_as_a_combobox(agent_client, chat):
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk])).content.decode()
    assert 'role="combobox"' in body
    assert 'aria-autocomplete="list"' in body
    assert reverse("chat:canned_suggestions", args=[chat.pk]) in body
    assert not Message.objects.exists()
