"""The composer's 4,096-character limit: shown, never cut, and refused with its real reason."""

from django.urls import reverse

from chat.models import Message

HTMX = {"HTTP_HX_REQUEST": "true"}


def send(client, chat, **data):
    return client.post(reverse("chat:message_send", args=[chat.pk]), data, **HTMX)


def test_it_refuses_a_longer_body_with_its_length_and_keeps_the_text(agent_client, chat):
    body = send(agent_client, chat, body="a" * 5000).content.decode()
    assert "A message has at most 4,096 characters; this one has 5,000." in body
    assert "Type a message or attach a file." not in body
    assert ">" + "a" * 5000 + "</textarea>" in body
    assert not Message.objects.exists()


def test_it_queues_a_body_of_exactly_the_limit(agent_client, chat):
    send(agent_client, chat, body="é" * 4096)
    assert Message.objects.get().message_body == "é" * 4096


def test_it_counts_the_body_after_trimming_and_line_endings(agent_client, chat):
    send(agent_client, chat, body="  " + "a\r\n" * 2048 + "  ")
    assert len(Message.objects.get().message_body) == 4095


def test_its_textarea_does_not_cut_and_carries_the_limit_for_the_counter(agent_client, chat):
    body = agent_client.get(reverse("chat:conversation", args=[chat.pk])).content.decode()
    assert 'maxlength="4096" placeholder="Type a message"' not in body
    assert 'data-max="4096"' in body
    assert 'class="composer-count"' in body
