"""The sidebar search finds words in messages, and a hit opens its conversation at that message."""

import pytest
from django.db import connection
from django.db.models import F
from django.urls import reverse

from chat.models import Conversation, Message
from chat.selectors import search
from chat.selectors.search import matching, snippet
from chat.services.notes import note_add
from chat.tests.conftest import make_conversation, make_message

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def sidebar(client, q, **params):
    return client.get(reverse("chat:sidebar"), {"q": q, **params}, **HTMX).content.decode()


def hits_part(body):
    """The Messages section of the sidebar, or "" when it has none."""
    if 'id="message-hits-heading"' not in body:
        return ""
    start = body.index('id="message-hits-heading"')
    return body[start : body.index("</ul>", start)]


def test_it_finds_words_in_messages_newest_first_with_the_word_marked(agent_client, agent):
    asha = make_conversation(name="Asha Patel")
    ben = make_conversation(phone="+14155550123", name="Ben Ode")
    make_message(asha, message_body="When is the delivery of order 42?")
    make_message(ben, "outbound", message_body="Your delivery leaves tomorrow morning", status="sent")
    make_message(ben, message_body="thanks")
    note_add(conversation=asha, author=agent, body="Delivery address changed, see the ERP", idempotency_key=None)

    hits = hits_part(sidebar(agent_client, "deliv"))  # a word's beginning finds it, as the typing goes
    assert hits.count('class="conversation-row message-hit"') == 3
    assert hits.index("Note: ") < hits.index("You: Your ") < hits.index("When is the ")
    assert "<mark>delivery</mark> of order 42?" in hits
    assert "thanks" not in hits


def test_every_word_must_match_and_a_number_searches_no_messages(agent_client):
    chat = make_conversation()
    make_message(chat, message_body="the invoice for March")
    make_message(chat, message_body="the invoice for April")
    assert hits_part(sidebar(agent_client, "invoice april")).count('class="conversation-row message-hit"') == 1
    assert hits_part(sidebar(agent_client, "+91 98765 43210")) == ""
    assert hits_part(sidebar(agent_client, "a")) == ""  # one letter finds nothing rather than everything


def test_activity_lines_and_reactions_are_not_found(agent_client, agent):
    chat = make_conversation()
    make_message(chat, message_type="reaction", message_body="👍 great", apply=False)
    Message.objects.create(
        conversation=chat, direction="internal", message_type="activity", status="internal", message_body="great"
    )
    assert hits_part(sidebar(agent_client, "great")) == ""


def test_a_hit_escapes_the_customers_text(agent_client):
    chat = make_conversation(name="<b>Eve</b>")
    make_message(chat, message_body="<script>alert('x')</script> about the refund")
    body = sidebar(agent_client, "refund")
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; about the <mark>refund</mark>" in body
    assert "&lt;b&gt;Eve&lt;/b&gt;" in body


def test_messages_in_conversations_the_agent_may_not_see_are_not_found(
    agent_client, agent, settings, django_user_model
):
    settings.CHAT_AGENTS_SEE_OWN_ONLY = True
    ravi = django_user_model.objects.create_user(username="ravi", password="ravi-password-1")
    theirs = make_conversation(assignee=ravi)
    make_message(theirs, message_body="secret discount code")
    mine = make_conversation(phone="+14155550123", name="Ben Ode", assignee=agent)
    make_message(mine, message_body="which discount applies?")
    hits = hits_part(sidebar(agent_client, "discount"))
    assert "which <mark>discount</mark> applies?" in hits
    assert "secret" not in hits


def test_it_searches_messages_of_every_status_while_the_list_keeps_its_filter(agent_client):
    done = make_conversation(status=Conversation.Status.RESOLVED)
    make_message(done, message_body="the warranty card is in the box")
    body = sidebar(agent_client, "warranty")
    assert 'id="conversation-' not in body.split('id="message-hits-heading"')[0]  # not in the Open list
    assert "<mark>warranty</mark>" in hits_part(body)


def test_the_search_costs_the_same_queries_for_few_hits_or_many(agent_client, django_assert_max_num_queries):
    chat = make_conversation()
    make_message(chat, message_body="parcel one")
    with django_assert_max_num_queries(50) as few:
        sidebar(agent_client, "parcel")
    for n in range(30):
        other = make_conversation(phone=f"+1415555{n:04d}", name=f"Customer {n}")
        make_message(other, message_body=f"parcel {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert hits_part(sidebar(agent_client, "parcel")).count('class="conversation-row message-hit"') == 20


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN index is PostgreSQL's")
def test_the_full_text_search_is_served_by_its_gin_index():
    older = matching(["deliv", "tomorrow"]).alias(by_id=F("id") + 0).order_by("-by_id")  # as _newest_first reads
    sql, params = older[:20].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "message_text_search_idx" in plan


def test_the_plain_fallback_needs_every_word_in_the_body_or_the_caption():
    chat = make_conversation()
    both = make_message(chat, message_body="Invoice attached", caption="")
    captioned = make_message(chat, message_type="image", message_body="", caption="the INVOICE photo")
    make_message(chat, message_body="receipt only")
    assert set(matching(["invoice"], vendor="sqlite")) == {both, captioned}
    assert list(matching(["invoice", "photo"], vendor="sqlite")) == [captioned]


def test_a_snippet_keeps_the_words_around_the_match():
    text = "word " * 30 + "the parcel arrived broken " + "end " * 40
    before, match, after = snippet(text, ["parcel"])
    assert match == "parcel"
    assert before.startswith("…")
    assert before.endswith("the ")
    assert after.startswith(" arrived broken")
    assert after.endswith("…")
    assert snippet("no such word here", ["parcel"]) == ("no such word here", "", "")


# --- opening a conversation at a hit -------------------------------------------------------------


def test_a_hit_opens_its_conversation_at_that_message_with_newer_ones_to_load(agent_client):
    chat = make_conversation()
    rows = [make_message(chat, message_body=f"line {n}") for n in range(120)]
    target = rows[30]
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk]), {"message": target.pk}).content.decode()
    assert f'data-found="{target.pk}"' in body
    assert f'id="m-{rows[20].pk}"' in body  # the ten before it
    assert f'id="m-{rows[19].pk}"' not in body
    assert f'id="m-{rows[80].pk}"' in body
    assert f'id="m-{rows[81].pk}"' not in body
    assert 'id="older"' in body
    assert f'data-after="{rows[80].pk}" data-upto="{rows[-1].pk}"' in body
    assert f"after={rows[-1].pk}" in body  # the poll carries on from the newest, not from the window

    newer = agent_client.get(
        reverse("chat:conversation_newer", args=[chat.pk]), {"after": rows[80].pk, "upto": rows[-1].pk}, **HTMX
    ).content.decode()
    assert f'id="m-{rows[81].pk}"' in newer
    assert f'id="m-{rows[119].pk}"' in newer
    assert 'id="newer"' not in newer  # caught up: the poll shows what comes next


def test_the_newer_pages_stop_at_the_newest_the_page_knew(agent_client):
    chat = make_conversation()
    rows = [make_message(chat, message_body=f"line {n}") for n in range(60)]
    later = make_message(chat, message_body="arrived after the page opened")
    newer = agent_client.get(
        reverse("chat:conversation_newer", args=[chat.pk]), {"after": rows[0].pk, "upto": rows[-1].pk}, **HTMX
    ).content.decode()
    assert f'id="m-{rows[50].pk}"' in newer
    assert f'id="m-{rows[51].pk}"' not in newer
    assert f'data-after="{rows[50].pk}" data-upto="{rows[-1].pk}"' in newer
    assert f'id="m-{later.pk}"' not in newer


def test_a_message_of_another_conversation_opens_the_window_without_a_mark(agent_client):
    chat = make_conversation()
    make_message(chat, message_body="ours")
    other = make_message(make_conversation(phone="+14155550123", name="Ben Ode"), message_body="theirs")
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk]), {"message": other.pk}).content.decode()
    assert "data-found" not in body
    assert "theirs" not in body.split('id="message-list"')[1]


@pytest.mark.parametrize("params", [{}, {"after": "1"}, {"after": "x", "upto": "2"}])
def test_the_newer_page_refuses_a_missing_or_malformed_cursor(agent_client, params):
    chat = make_conversation()
    assert agent_client.get(reverse("chat:conversation_newer", args=[chat.pk]), params, **HTMX).status_code == 400


def test_opening_at_a_hit_costs_the_same_queries_in_a_short_or_long_history(
    agent_client, django_assert_max_num_queries
):
    def open_at(count):
        chat = make_conversation(phone=f"+1415555{count:04d}", name=f"History {count}")
        rows = [make_message(chat, message_body=f"line {n}") for n in range(count)]
        url = reverse("chat:conversation", args=[chat.pk])
        return lambda: agent_client.get(url, {"message": rows[count // 2].pk}, **HTMX)

    short, long = open_at(12), open_at(150)
    with django_assert_max_num_queries(60) as few:
        short()
    with django_assert_max_num_queries(len(few.captured_queries)):
        long()


def test_hits_beyond_the_newest_messages_come_through_the_index_still_newest_first(agent_client, monkeypatch):
    monkeypatch.setattr(search, "RECENT_WINDOW", 3)
    chat = make_conversation()
    old = [make_message(chat, message_body=f"warranty claim {n}") for n in range(4)]
    for n in range(5):
        make_message(chat, message_body=f"unrelated {n}")  # the newest window holds no hit
    recent = make_message(chat, message_body="warranty extended")
    hits = search.message_search(query="warranty", limit=3)
    assert [hit.pk for hit in hits] == [recent.pk, old[3].pk, old[2].pk]
