"""Exporting a conversation: a printable transcript and a CSV, streamed, escaped, for those who may see it."""

import csv
import io

import pytest
from django.urls import reverse

import chat.selectors.messages
from chat.exports import csv_cell
from chat.models import Label
from chat.services import inbox
from chat.services.notes import note_add
from chat.tests.conftest import make_conversation, make_message

pytestmark = pytest.mark.django_db


def streamed(response):
    assert response.streaming
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def talk(agent):
    chat = make_conversation(name="<b>Asha</b>")
    make_message(chat, message_body="Hello <script>alert(1)</script>\nsecond line")
    make_message(chat, "outbound", message_body='=HYPERLINK("http://evil")', from_user=agent, status="read")
    make_message(chat, message_type="document", message_body="", file_name="invoice <1>.pdf", caption="+1 for you")
    note_add(conversation=chat, author=agent, body="internal only: the customer is late")
    inbox.conversation_label_add(conversation=chat, actor=agent, label=Label.objects.create(name="VIP"))
    return chat


def test_the_transcript_is_a_printable_page_of_the_talk_escaped(agent_client, talk):
    response = agent_client.get(reverse("chat:conversation_transcript", args=[talk.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    body = streamed(response)
    assert "<title>Conversation with &lt;b&gt;Asha&lt;/b&gt;</title>" in body
    assert "Hello &lt;script&gt;alert(1)&lt;/script&gt;<br>second line" in body
    assert "<script>alert" not in body
    assert "invoice &lt;1&gt;.pdf" in body
    assert body.count('<li class="t-msg') == 3
    # Only the talk with the customer: no notes, no activity lines.
    assert "internal only" not in body
    assert "added the label" not in body
    # The print stylesheet and the print button's script are files (the CSP allows nothing inline).
    assert "/static/chat/transcript.css" in body
    assert "/static/chat/transcript.js" in body
    assert " style=" not in body
    assert " onclick" not in body


def test_the_print_stylesheet_hides_the_buttons_on_paper(settings):
    from pathlib import Path

    css = (Path(settings.BASE_DIR) / "static" / "chat" / "transcript.css").read_text()
    assert "@media print" in css
    assert ".no-print { display: none; }" in css


def test_the_csv_has_a_row_per_message_and_neutralises_formulas(agent_client, talk):
    response = agent_client.get(reverse("chat:conversation_export_csv", args=[talk.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="whatsapp-conversation-{talk.pk}-')
    text = streamed(response)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["id", "time", "direction", "from", "type", "text", "file_name", "status"]
    assert len(rows) == 4
    inbound, outbound, document = rows[1:]
    assert inbound[3] == "<b>Asha</b>"  # CSV is data, not HTML: kept as typed
    assert inbound[5] == "Hello <script>alert(1)</script>\nsecond line"
    assert outbound[3] == "alice"
    assert outbound[5] == '\'=HYPERLINK("http://evil")'
    assert outbound[7] == "read"
    assert document[5] == "'+1 for you"
    assert document[6] == "invoice <1>.pdf"
    assert "internal only" not in text


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+91 98765", "'+91 98765"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_a_cell_that_starts_like_a_formula_gets_an_apostrophe(value, cell):
    assert csv_cell(value) == cell


@pytest.mark.parametrize("view", ["chat:conversation_transcript", "chat:conversation_export_csv"])
def test_an_export_costs_one_query_per_batch_whatever_the_length(
    agent_client, monkeypatch, view, django_assert_num_queries
):
    monkeypatch.setattr(chat.selectors.messages, "EXPORT_BATCH", 5)
    chat_row = make_conversation()
    url = reverse(view, args=[chat_row.pk])
    agent_client.get(url)
    for n in range(12):
        make_message(chat_row, message_body=f"message {n}")
    # The user and the conversation, then three batches of five (5, 5, 2).
    with django_assert_num_queries(5):
        body = streamed(agent_client.get(url))
    for n in range(12):
        assert f"message {n}" in body


@pytest.mark.parametrize("view", ["chat:conversation_transcript", "chat:conversation_export_csv"])
def test_an_export_has_the_conversations_own_visibility(
    agent_client, client, outsider, settings, django_user_model, view
):
    settings.CHAT_AGENTS_SEE_OWN_ONLY = True
    chat_row = make_conversation(assignee=django_user_model.objects.create_user(username="ravi"))
    make_message(chat_row, message_body="not for alice")
    assert agent_client.get(reverse(view, args=[chat_row.pk])).status_code == 404
    client.force_login(outsider)
    assert client.get(reverse(view, args=[chat_row.pk])).status_code == 403


def test_the_more_menu_links_to_both_exports(agent_client, talk):
    body = agent_client.get(reverse("chat:conversation", args=[talk.pk])).content.decode()
    assert reverse("chat:conversation_transcript", args=[talk.pk]) in body
    assert reverse("chat:conversation_export_csv", args=[talk.pk]) in body
