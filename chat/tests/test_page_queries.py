"""The page's hot paths cost the same number of queries whatever the size of the history."""

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from chat.changes import conversations_touched, messages_marked_at
from chat.models import Label, Message, Team
from chat.tests.conftest import backdate, make_conversation, make_message
from links.services import entity_link_create

HTMX = {"HTTP_HX_REQUEST": "true"}


def history(chat, size):
    """`size` messages of every kind: links, reactions, replies, failures, unread."""
    messages = []
    for n in range(size):
        kind = n % 4
        if kind == 0:
            message = make_message(chat, message_body=f"question {n}")
        elif kind == 1:
            message = make_message(chat, "outbound", message_body=f"answer {n}", status="delivered")
        elif kind == 2:
            message = make_message(chat, "outbound", status="failed", error_code=131047)
        else:
            message = make_message(
                chat, message_body="see above", reply_to_whatsapp_id=messages[-3].whatsapp_message_id
            )
        messages.append(message)
        if n % 5 == 0:
            entity_link_create(message=message, entity_type="project", entity_id=str(n))
        if n % 6 == 0:
            make_message(
                chat, message_type="reaction", message_body="👍", reply_to_whatsapp_id=message.whatsapp_message_id
            )
        if n % 7 == 0:  # ours, from the bubble menu
            make_message(
                chat,
                "outbound",
                message_type="reaction",
                message_body="🙏",
                reply_to_whatsapp_id=message.whatsapp_message_id,
            )
    return messages


def labelled(chat, *labels):
    chat.labels.add(*labels)
    return chat


@pytest.fixture
def sizes(db):
    vip = Label.objects.create(name="VIP", colour="blue")
    small = labelled(make_conversation(phone="+919876543210", inbound_ago=timezone.timedelta(hours=1)), vip)
    large = labelled(make_conversation(phone="+14155550123", inbound_ago=timezone.timedelta(hours=1)), vip)
    return small, history(small, 4), large, history(large, 60)


def test_it_lists_two_or_forty_conversations_in_the_same_number_of_queries(agent_client, db, django_assert_num_queries):
    vip, late = Label.objects.create(name="VIP", colour="green"), Label.objects.create(name="Late", colour="red")
    agent_client.get(reverse("chat:page"))  # warm the session
    for n in range(2):
        make_message(labelled(make_conversation(phone=f"+9198765432{n:02d}"), vip))
    # The user; the rows; their labels; the filters' unread counts, my mentions, the teams, the labels;
    # what notifications compare; my bell's switches.
    with django_assert_num_queries(9):
        agent_client.get(reverse("chat:page"))
    for n in range(2, 40):
        make_message(labelled(make_conversation(phone=f"+9198765432{n:02d}"), vip, late))
        Label.objects.create(name=f"Label {n}")
    with django_assert_num_queries(9):
        response = agent_client.get(reverse("chat:page"))
    body = response.content.decode()
    assert body.count('class="conversation-row') == 40
    assert body.count('class="label-chip label-green">VIP<') == 40
    assert body.count('class="label-chip label-red">Late<') == 38


def test_it_searches_for_a_number_in_the_same_number_of_queries_with_or_without_an_offer(
    agent_client, db, django_assert_num_queries
):
    agent_client.get(reverse("chat:page"))
    for n in range(2):
        make_message(make_conversation(phone=f"+9198765432{n:02d}"))
    url = reverse("chat:sidebar")
    # The user; the rows; whether the number has a conversation (the offer); the filters' unread
    # counts, my mentions, the teams, the labels; what notifications compare.
    with django_assert_num_queries(8):
        response = agent_client.get(url, {"q": "+1 202 555 0123"}, **HTMX)
    assert "Message +1 202 555 0123" in response.content.decode()
    for n in range(2, 40):
        make_message(make_conversation(phone=f"+9198765432{n:02d}"))
    with django_assert_num_queries(8):
        response = agent_client.get(url, {"q": "+1 202 555 0123"}, **HTMX)
    assert "Message +1 202 555 0123" in response.content.decode()
    # A row found: its labels too.
    with django_assert_num_queries(9):
        response = agent_client.get(url, {"q": "+91 98765 43201"}, **HTMX)
    body = response.content.decode()
    assert "new-chat-offer" not in body
    assert body.count('class="conversation-row') == 1


def test_it_opens_a_short_or_long_conversation_in_the_same_number_of_queries(
    agent_client, sizes, django_assert_num_queries
):
    small, _, large, _ = sizes
    agent_client.get(reverse("chat:page"))
    # Among them the sidebar rows' labels, the label filters, and the header's labels.
    with django_assert_num_queries(21):
        agent_client.get(reverse("chat:conversation", args=[small.pk]), **HTMX)
    with django_assert_num_queries(21):
        response = agent_client.get(reverse("chat:conversation", args=[large.pk]), **HTMX)
    body = response.content.decode()
    assert body.count('class="msg msg-') == 50
    assert body.count('class="label-chip label-blue">VIP<') == 3  # the header and both sidebar rows


def test_it_answers_an_idle_poll_in_the_same_few_queries_and_reads_no_message_rows(
    agent_client, sizes, django_assert_num_queries
):
    small, small_messages, large, large_messages = sizes
    since = timezone.now().isoformat()
    for chat in (small, large):
        backdate(chat, *Message.objects.filter(conversation=chat))
    agent_client.get(reverse("chat:page"))
    for chat in (small, large):
        newest = Message.objects.filter(conversation=chat).order_by("-id").first()
        url = reverse("chat:conversation_poll", args=[chat.pk])
        with django_assert_num_queries(2) as captured:  # the user and the conversation
            response = agent_client.get(url, {"after": newest.pk, "since": since, "open": 1}, **HTMX)
        assert response.status_code == 204
        message_queries = [q["sql"] for q in captured.captured_queries if "whatsapp_messages" in q["sql"]]
        assert message_queries == []  # the conversation's change mark is older than the cursor


def test_it_reads_a_lost_change_mark_back_from_one_index(agent_client, sizes, django_assert_num_queries):
    small, _, large, _ = sizes
    since = timezone.now().isoformat()
    for chat in (small, large):
        backdate(chat, *Message.objects.filter(conversation=chat))
    agent_client.get(reverse("chat:page"))
    cache.delete_many([f"chat:messages-changed:{chat.pk}" for chat in (small, large)])
    for chat in (small, large):
        newest = Message.objects.filter(conversation=chat).order_by("-id").first()
        url = reverse("chat:conversation_poll", args=[chat.pk])
        with django_assert_num_queries(3) as captured:
            response = agent_client.get(url, {"after": newest.pk, "since": since, "open": 1}, **HTMX)
        assert response.status_code == 204
        message_queries = [q["sql"] for q in captured.captured_queries if "whatsapp_messages" in q["sql"]]
        assert len(message_queries) == 1
        assert "MAX" in message_queries[0]  # the newest updated_at
        assert messages_marked_at(chat.pk) is not None  # left for the next poll
        with django_assert_num_queries(2):
            agent_client.get(url, {"after": newest.pk, "since": since, "open": 1}, **HTMX)


def test_it_looks_at_two_index_ranges_when_the_conversation_changed_lately(
    agent_client, sizes, django_assert_num_queries
):
    small, _, large, _ = sizes
    since = timezone.now().isoformat()
    for chat in (small, large):
        backdate(chat, *Message.objects.filter(conversation=chat))
    agent_client.get(reverse("chat:page"))
    for chat in (small, large):
        conversations_touched([chat.pk])  # a change the cursor may not have seen (here: nothing new after all)
        newest = Message.objects.filter(conversation=chat).order_by("-id").first()
        url = reverse("chat:conversation_poll", args=[chat.pk])
        with django_assert_num_queries(4) as captured:
            response = agent_client.get(url, {"after": newest.pk, "since": since, "open": 1}, **HTMX)
        assert response.status_code == 204
        message_queries = [q["sql"] for q in captured.captured_queries if "whatsapp_messages" in q["sql"]]
        assert len(message_queries) == 2  # one range of message_history_idx, one of message_changed_idx
        assert " OR " not in " ".join(message_queries)


def test_it_answers_a_poll_with_changes_in_the_same_number_of_queries(agent_client, sizes, django_assert_num_queries):
    small, small_messages, large, large_messages = sizes
    agent_client.get(reverse("chat:page"))
    for chat, messages in ((small, small_messages), (large, large_messages)):
        backdate(chat, *Message.objects.filter(conversation=chat))
        newest = Message.objects.filter(conversation=chat).order_by("-id").first()
        since = timezone.now().isoformat()
        Message.objects.filter(pk=messages[1].pk).update(status="read", updated_at=timezone.now())
        make_message(chat, "outbound", message_body="new one", status="queued")
        url = reverse("chat:conversation_poll", args=[chat.pk])
        with django_assert_num_queries(8):  # the header, changed with the conversation, reads its labels
            response = agent_client.get(url, {"after": newest.pk, "since": since, "open": 1}, **HTMX)
        body = response.content.decode()
        assert "new one" in body
        assert 'class="label-chip label-blue">VIP<' in body
        assert f'id="m-{messages[1].pk}"' in body


def test_it_reacts_and_replies_in_the_same_number_of_queries_in_a_short_or_long_conversation(
    agent_client, sizes, django_assert_num_queries
):
    small, small_messages, large, large_messages = sizes
    agent_client.get(reverse("chat:page"))
    for chat, messages in ((small, small_messages), (large, large_messages)):
        target = messages[-4]  # a customer's question
        url = reverse("chat:message_react", args=[chat.pk])
        # The user, the conversation, the message; the reaction's lock, our standing reaction, its row
        # (savepoints around it), the counters and the day's count, the bubble's touch; the bubble and
        # what it shows.
        with django_assert_num_queries(18):
            response = agent_client.post(url, {"message": target.pk, "emoji": "❤️"}, **HTMX)
        assert "reaction-outbound" in response.content.decode()
        send = reverse("chat:message_send", args=[chat.pk])
        with django_assert_num_queries(9):
            agent_client.post(send, {"body": "Plain", "idempotency_key": ""}, **HTMX)
        with django_assert_num_queries(10):  # the same, plus reading the quoted message
            agent_client.post(send, {"body": "About that", "reply_to": target.pk, "idempotency_key": ""}, **HTMX)
        assert Message.objects.filter(reply_to_whatsapp_id=target.whatsapp_message_id, direction="outbound").exists()


def test_it_answers_an_idle_sidebar_poll_in_the_same_few_queries(agent_client, db, django_assert_num_queries):
    agent_client.get(reverse("chat:page"))
    for size in (2, 40):
        for n in range(size):
            chat = make_conversation(phone=f"+1415555{size:02d}{n:02d}")
            make_message(chat)
            backdate(chat)
        with django_assert_num_queries(2):
            response = agent_client.get(reverse("chat:sidebar"), {"since": timezone.now().isoformat()}, **HTMX)
        assert response.status_code == 204


def test_it_answers_an_idle_poll_of_a_closed_window_without_reading_templates(
    agent_client, db, django_assert_num_queries
):
    from chat.models import MessageTemplate

    chat = make_conversation(inbound_ago=timezone.timedelta(days=2))
    MessageTemplate.objects.create(name="order_update", language="en", status="APPROVED")
    message = make_message(chat, apply=False)
    backdate(chat, message)
    agent_client.get(reverse("chat:page"))
    url = reverse("chat:conversation_poll", args=[chat.pk])
    with django_assert_num_queries(2):
        response = agent_client.get(url, {"after": message.pk, "since": timezone.now().isoformat(), "open": 0}, **HTMX)
    assert response.status_code == 204


def test_it_shows_an_entity_view_of_few_or_many_messages_in_the_same_number_of_queries(
    agent_client, sizes, django_assert_num_queries
):
    small, small_messages, large, large_messages = sizes
    agent_client.get(reverse("chat:page"))
    for messages, entity_id in ((small_messages, "few"), (large_messages, "many")):
        for message in messages:
            entity_link_create(message=message, entity_type="project", entity_id=entity_id)
        with django_assert_num_queries(7):
            response = agent_client.get(reverse("links:entity", args=["project", entity_id]))
        assert response.content.decode().count('class="msg msg-') == min(len(messages), 50)


def test_it_pages_an_entity_view_of_any_length_in_the_same_number_of_queries(
    agent_client, sizes, django_assert_num_queries
):
    small, small_messages, large, large_messages = sizes
    agent_client.get(reverse("chat:page"))
    for messages in (small_messages, large_messages):
        for message in messages:
            entity_link_create(message=message, entity_type="lead", entity_id="L1")
    url = reverse("links:entity_older", args=["lead", "L1"])
    for before in (large_messages[-1].pk, large_messages[20].pk):
        with django_assert_num_queries(7):
            response = agent_client.get(url, {"before": before, "cursor": "x"}, **HTMX)
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("status", "owner", "by_label"),
    [
        ("open", "all", False),
        ("open", "mine", False),
        ("open", "unassigned", False),
        ("open", "team", False),
        ("resolved", "all", False),
        ("snoozed", "all", False),
        ("open", "all", True),
        ("open", "mine", True),
    ],
)
def test_every_sidebar_filter_costs_the_same_at_any_size(
    agent_client, agent, db, django_assert_num_queries, status, owner, by_label
):
    team = Team.objects.create(name="Support")
    vip, other = Label.objects.create(name="VIP"), Label.objects.create(name="Other")
    owner = f"team:{team.pk}" if owner == "team" else owner
    url = reverse("chat:sidebar") + f"?status={status}&owner={owner}" + (f"&label={vip.pk}" if by_label else "")
    agent_client.get(url, **HTMX)

    def grow(first, last):
        for n in range(first, last):
            chat = make_conversation(phone=f"+9198765433{n:02d}", assignee=agent if n % 2 else None, team=team)
            chat.status = status
            chat.save()
            labelled(chat, vip if n % 3 else other)
            make_message(chat)
            Team.objects.create(name=f"Team {n}")
            Label.objects.create(name=f"Label {n}")

    grow(0, 2)
    # The user; the rows; their labels; the unread counts, my mentions, the teams, the labels; notifications.
    with django_assert_num_queries(8):
        agent_client.get(url, **HTMX)
    grow(2, 30)
    with django_assert_num_queries(8):
        body = agent_client.get(url, **HTMX).content.decode()
    expected = {"all": 30, "mine": 15, "unassigned": 15}.get(owner, 30)
    if by_label:
        expected = {"all": 20, "mine": 10}[owner]  # the VIPs: n not a multiple of 3 (of the odd n, for mine)
    assert body.count('class="conversation-row') == expected


def test_a_closed_window_costs_the_same_queries_with_no_templates_or_many(
    agent_client, db, django_assert_num_queries, monkeypatch
):
    """No template: the worker is asked to sync (a cache key, no query); many: one query lists them all."""
    import integrations.tasks
    from chat.message_templates import SYNC_REQUEST_KEY
    from chat.models import Conversation, MessageTemplate

    monkeypatch.setattr(integrations.tasks.templates_sync_task, "delay", lambda: None)
    cache.delete(SYNC_REQUEST_KEY)
    chat = make_conversation(inbound_ago=timezone.timedelta(days=2))
    history(chat, 4)  # its inbound messages opened the window: close it again
    Conversation.objects.filter(pk=chat.pk).update(last_inbound_at=timezone.now() - timezone.timedelta(days=2))
    agent_client.get(reverse("chat:page"))
    url = reverse("chat:conversation", args=[chat.pk])
    with django_assert_num_queries(22) as none:  # the open window's 21, and the template list
        assert "No approved templates yet." in agent_client.get(url, **HTMX).content.decode()
    for n in range(12):
        MessageTemplate.objects.create(name=f"t{n}", language="en", status="APPROVED")
    with django_assert_num_queries(len(none.captured_queries)):
        assert "t11 (en)" in agent_client.get(url, **HTMX).content.decode()
    cache.delete(SYNC_REQUEST_KEY)


def test_canned_suggestions_cost_the_same_queries_for_few_or_many(agent_client, agent, db, django_assert_num_queries):
    from chat.models import CannedResponse

    chat = make_conversation(inbound_ago=timezone.timedelta(hours=1))
    team = Team.objects.create(name="Support")
    team.members.add(agent)
    url = reverse("chat:canned_suggestions", args=[chat.pk])
    CannedResponse.objects.create(shortcut="hi", text="Hi {{contact_name}}")
    agent_client.get(url, {"body": "/"}, **HTMX)
    with django_assert_num_queries(4) as few:
        agent_client.get(url, {"body": "/"}, **HTMX)
    for n in range(7):
        CannedResponse.objects.create(shortcut=f"team{n}", text="{{record}}", team=team)
    with django_assert_num_queries(len(few.captured_queries)):
        assert agent_client.get(url, {"body": "/"}, **HTMX).content.decode().count('role="option"') == 8
