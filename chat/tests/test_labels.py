"""Labels on conversations: applied and removed from the pane header, shown on sidebar rows, filtered by."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from chat.changes import messages_mark_back, messages_marked_at
from chat.models import Conversation, Label, Message
from chat.services import inbox
from chat.tests.conftest import make_conversation, make_message

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def lines(chat):
    return list(
        Message.objects.filter(conversation=chat, message_type="activity").values_list("message_body", flat=True)
    )


def row_names(body):
    return re.findall(r'<span class="row-top"><span class="name">([^<]*)</span>', body)


@pytest.fixture
def vip(db):
    return Label.objects.create(name="VIP", colour="green")


def test_it_puts_a_label_on_once_with_an_activity_line_and_moves_the_change_mark(agent, vip):
    chat = make_conversation()
    long_ago = timezone.now() - timezone.timedelta(days=1)
    Conversation.objects.filter(pk=chat.pk).update(updated_at=long_ago)
    messages_mark_back([chat.pk], long_ago)
    assert inbox.conversation_label_add(conversation=chat, actor=agent, label=vip) is True
    assert inbox.conversation_label_add(conversation=chat, actor=agent, label=vip) is False
    assert list(chat.labels.values_list("name", flat=True)) == ["VIP"]
    assert lines(chat) == ["alice added the label VIP"]
    assert Conversation.objects.get(pk=chat.pk).updated_at > long_ago  # the sidebar poll sees it
    assert messages_marked_at(chat.pk) > long_ago.timestamp()  # and the conversation poll


def test_it_takes_a_label_off_once_with_an_activity_line(agent, vip):
    chat = make_conversation()
    chat.labels.add(vip)
    assert inbox.conversation_label_remove(conversation=chat, actor=agent, label=vip) is True
    assert inbox.conversation_label_remove(conversation=chat, actor=agent, label=vip) is False
    assert not chat.labels.exists()
    assert lines(chat) == ["alice removed the label VIP"]


@pytest.mark.parametrize("value", ["", "x", "99999999", "1" * 30, None])
def test_it_refuses_a_label_that_is_not_one_naming_the_field(value):
    with pytest.raises(inbox.InboxRefused) as refused:
        inbox.label_by_id(value)
    assert refused.value.field == "label"


@pytest.mark.parametrize("name", ["", "Nope", "x" * 33, "a\x00b", "\ud800"])
def test_it_refuses_a_label_name_that_is_not_one(vip, name):
    with pytest.raises(inbox.InboxRefused) as refused:
        inbox.label_by_name(name)
    assert refused.value.field == "label"


def test_the_labels_menu_offers_every_label_and_marks_those_on(agent_client, vip):
    Label.objects.create(name="Late payer", colour="red")
    chat = make_conversation()
    chat.labels.add(vip)
    body = agent_client.get(reverse("chat:conversation_labels", args=[chat.pk]), **HTMX).content.decode()
    assert re.search(rf'name="remove" value="{vip.pk}" aria-pressed="true"', body)
    assert "Late payer" in body
    assert 'name="label"' in body


def test_the_labels_menu_says_when_there_are_none(agent_client):
    chat = make_conversation()
    body = agent_client.get(reverse("chat:conversation_labels", args=[chat.pk]), **HTMX).content.decode()
    assert "No labels yet" in body


def test_applying_and_removing_from_the_header_shows_the_chip_and_refreshes_the_sidebar(agent_client, vip):
    chat = make_conversation()
    make_message(chat)
    url = reverse("chat:conversation_label", args=[chat.pk])
    header = agent_client.post(url, {"label": vip.pk}, **HTMX)
    assert 'class="label-chip label-green">VIP<' in header.content.decode()
    assert "chatChanged" in header.headers["HX-Trigger"]
    sidebar = agent_client.get(reverse("chat:sidebar"), **HTMX).content.decode()
    assert 'class="label-chip label-green">VIP<' in sidebar
    header = agent_client.post(url, {"remove": vip.pk}, **HTMX)
    assert "label-chip" not in header.content.decode()
    assert lines(chat) == ["alice added the label VIP", "alice removed the label VIP"]


def test_an_unknown_label_says_why_and_changes_nothing(agent_client):
    chat = make_conversation()
    header = agent_client.post(reverse("chat:conversation_label", args=[chat.pk]), {"label": "12345"}, **HTMX)
    assert "Choose one of the labels." in header.content.decode()
    assert lines(chat) == []


def test_a_plain_form_post_goes_back_to_the_conversation(agent_client, vip):
    chat = make_conversation()
    response = agent_client.post(reverse("chat:conversation_label", args=[chat.pk]), {"label": vip.pk})
    assert response.status_code == 302
    assert response["Location"] == reverse("chat:conversation", args=[chat.pk])
    assert chat.labels.filter(pk=vip.pk).exists()


def test_a_conversation_hidden_from_the_agent_cannot_be_labelled(agent_client, vip, settings, django_user_model):
    settings.CHAT_AGENTS_SEE_OWN_ONLY = True
    ravi = django_user_model.objects.create_user(username="ravi")
    chat = make_conversation(assignee=ravi)
    assert agent_client.get(reverse("chat:conversation_labels", args=[chat.pk]), **HTMX).status_code == 404
    assert agent_client.post(reverse("chat:conversation_label", args=[chat.pk]), {"label": vip.pk}).status_code == 404
    assert not chat.labels.exists()


def test_the_sidebar_filters_by_a_label_and_keeps_it_with_the_other_filters(agent_client, agent, vip):
    other = Label.objects.create(name="Supplier", colour="blue")
    asha, ravi, meera = (
        make_conversation(phone=f"+9198765432{n}0", name=name) for n, name in enumerate(("Asha", "Ravi", "Meera"))
    )
    for chat in (asha, ravi, meera):
        make_message(chat)
    asha.labels.add(vip)
    ravi.labels.add(vip, other)
    Conversation.objects.filter(pk=ravi.pk).update(assignee=agent)
    body = agent_client.get(reverse("chat:sidebar"), {"label": vip.pk}, **HTMX).content.decode()
    assert sorted(row_names(body)) == ["Asha", "Ravi"]
    # The chosen label is marked, keeps its place in the status and owner links, and offers the way back.
    assert re.search(r'class="filter label-filter active" aria-current="true"', body)
    assert f"status=resolved&amp;owner=all&amp;label={vip.pk}" in body
    assert f"owner=mine&amp;label={vip.pk}" in body
    assert f'id="sidebar-label" name="label" value="{vip.pk}"' in body
    mine = agent_client.get(reverse("chat:sidebar"), {"label": vip.pk, "owner": "mine"}, **HTMX).content.decode()
    assert row_names(mine) == ["Ravi"]
    # Each row shows its labels as chips.
    assert mine.count("label-chip") == 2


@pytest.mark.parametrize("value", ["x", "-1", "1" * 20, "١"])
def test_a_label_filter_that_is_not_a_label_id_shows_everything(agent_client, value):
    make_message(make_conversation())
    body = agent_client.get(reverse("chat:sidebar"), {"label": value}, **HTMX).content.decode()
    assert body.count('class="conversation-row') == 1


def test_a_label_filter_no_conversation_has_shows_none(agent_client, vip):
    make_message(make_conversation())
    body = agent_client.get(reverse("chat:sidebar"), {"label": vip.pk}, **HTMX).content.decode()
    assert body.count('class="conversation-row') == 0


def test_label_names_are_escaped_everywhere(agent_client):
    label = Label.objects.create(name="<b>x</b>", colour="red")
    chat = make_conversation()
    make_message(chat)
    chat.labels.add(label)
    pages = [
        agent_client.get(reverse("chat:sidebar"), **HTMX),
        agent_client.get(reverse("chat:conversation", args=[chat.pk]), **HTMX),
        agent_client.get(reverse("chat:conversation_labels", args=[chat.pk]), **HTMX),
        agent_client.get(reverse("chat:conversation_contact", args=[chat.pk]), **HTMX),
    ]
    for page in pages:
        body = page.content.decode()
        assert "<b>x</b>" not in body
        assert "&lt;b&gt;x&lt;/b&gt;" in body


# --- The palette: one chip rule per colour, each readable ---------------------------------------


def _luminance(hex_colour):
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(first, second):
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_every_colour_of_the_palette_has_a_chip_rule_with_readable_text():
    css = (Path(settings.BASE_DIR) / "static" / "chat" / "app.css").read_text()
    for colour in Label.Colour.values:
        rule = re.search(rf"\.label-{colour} \{{ color: (#[0-9a-f]{{6}}); background: (#[0-9a-f]{{6}}); \}}", css)
        assert rule, f"static/chat/app.css has no chip rule for {colour}"
        text, background = rule.groups()
        assert _contrast(text, background) >= 4.5, colour
        assert f".label-dot.label-{colour} {{ background: {text}; }}" in css
