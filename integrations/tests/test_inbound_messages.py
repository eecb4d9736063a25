"""Processing customer messages: every type Meta documents, whole envelopes, replays."""

import json
from datetime import UTC, datetime
from functools import partial

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from chat.models import Conversation, Message
from chat.payload import parse_timestamp
from chat.services import conversation_get_or_create
from integrations.inbound import (
    Walk,
    _item,
    _receive_message,
    message_content,
    process_webhook_event,
    webhook_events_replay,
)
from integrations.models import WebhookEvent
from integrations.tests.conftest import OUR_WAMID, fixture_names, load_fixture, post_body, wamid

pytestmark = pytest.mark.django_db
SENT_AT = datetime.fromtimestamp(1764140000, tz=UTC)


def only_message():
    return Message.objects.get(direction=Message.Direction.INBOUND)


def our_message(**fields):
    conversation = conversation_get_or_create(phone="+919876543210")
    fields.setdefault("status", Message.Status.SENT)
    return Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        whatsapp_message_id=OUR_WAMID,
        message_body="Your site visit is on Friday",
        **fields,
    )


def snapshot():
    """Everything processing may touch, to compare before and after a replay."""
    messages = list(Message.objects.order_by("pk").values())
    conversations = list(Conversation.objects.order_by("pk").values())
    return messages, conversations


def test_it_stores_a_text_message_in_the_customer_s_conversation(deliver):
    event = deliver("text_message")
    assert event.processing_error == ""
    assert event.processed_at is not None
    message = only_message()
    assert message.message_type == "text"
    assert message.message_body == "Hello, is the site visit still on for Friday?"
    assert message.status == Message.Status.RECEIVED
    assert message.whatsapp_message_id == wamid("TEXT01")
    assert message.whatsapp_timestamp == SENT_AT
    assert message.from_phone == "+919876543210"
    assert message.to_phone == "+15550783881"
    conversation = message.conversation
    assert conversation.other_party == "+919876543210"
    assert conversation.contact_name == "Asha Rao"
    assert conversation.unread_count == 1
    assert conversation.last_inbound_at == SENT_AT
    assert conversation.last_message_at == SENT_AT
    assert conversation.last_message_preview == "Hello, is the site visit still on for Friday?"


@pytest.mark.parametrize("name", fixture_names())
def test_replaying_any_fixture_changes_nothing(deliver, name):
    our_message()
    first = deliver(name)
    before = snapshot()
    deliver(name)  # Meta delivers it again
    process_webhook_event(first.pk, force=True)  # and an operator replays it
    assert snapshot() == before


@pytest.mark.parametrize("name", [n for n in fixture_names() if not n.startswith(("status_", "errors", "template"))])
def test_every_inbound_fixture_becomes_a_message_and_nothing_is_dropped(deliver, name):
    event = deliver(name)
    assert event.processing_error == ""
    body = load_fixture(name)
    sent = [
        msg
        for entry in body["entry"]
        for change in entry["changes"]
        if change["field"] == "messages"
        for msg in change["value"].get("messages", [])
    ]
    if name in ("edit_message", "revoke_message"):
        return  # these change an earlier message; see their own tests
    stored = set(Message.objects.values_list("whatsapp_message_id", flat=True))
    assert {msg["id"] for msg in sent} <= stored


@pytest.mark.parametrize(
    ("name", "kind", "caption", "mime_type", "media_id"),
    [
        ("image_message", "image", "Crack in the north wall", "image/jpeg", "1003383421387256"),
        ("video_message", "video", "Walkthrough", "video/mp4", "1017653653260283"),
        ("audio_voice_message", "audio", "", "audio/ogg; codecs=opus", "1192542418806468"),
        ("document_message", "document", "Revised estimate", "application/pdf", "1374284100258712"),
        ("sticker_message", "sticker", "", "image/webp", "1204402150781542"),
    ],
)
def test_it_keeps_media_details_and_queues_the_download_after_commit(
    post_fixture, django_capture_on_commit_callbacks, name, kind, caption, mime_type, media_id
):
    assert post_fixture(name).status_code == 200
    with django_capture_on_commit_callbacks() as callbacks:
        process_webhook_event(WebhookEvent.objects.get().pk)
    message = only_message()
    assert (message.message_type, message.caption, message.mime_type, message.media_id) == (
        kind,
        caption,
        mime_type,
        media_id,
    )
    assert message.media_state == Message.MediaState.PENDING
    assert message.sha256
    assert [c.args for c in callbacks] == [(message.pk,)]


def test_it_keeps_a_document_s_file_name_and_a_voice_note_flag(deliver):
    deliver("document_message")
    deliver("audio_voice_message")
    assert Message.objects.get(message_type="document").file_name == "Estimate March.pdf"
    assert Message.objects.get(message_type="audio").data["voice"] is True


def test_it_keeps_a_location_as_data_and_a_readable_body(deliver):
    deliver("location_message")
    message = only_message()
    assert message.message_type == "location"
    assert message.data == {
        "latitude": 12.9715987,
        "longitude": 77.5945627,
        "name": "Madio site office",
        "address": "12 MG Road, Bengaluru",
        "url": "https://maps.example.com/madio",
        "phone_number_id": "106540352242922",
    }
    assert message.message_body == "Madio site office, 12 MG Road, Bengaluru (12.9715987, 77.5945627)"


def test_it_keeps_shared_contacts_structured_and_readable(deliver):
    deliver("contacts_message")
    message = only_message()
    assert message.message_type == "contacts"
    assert message.data["contacts"][0]["org"]["company"] == "Kumar Builders"
    assert message.message_body == "Ravi Kumar: +91 98450 12345"


@pytest.mark.parametrize(
    ("name", "expected", "body"),
    [
        (
            "interactive_button_reply",
            {"interactive_type": "button_reply", "id": "confirm-visit", "title": "Confirm"},
            "Confirm",
        ),
        (
            "interactive_list_reply",
            {
                "interactive_type": "list_reply",
                "id": "slot-2",
                "title": "Friday 10 am",
                "description": "Site visit, 1 hour",
            },
            "Friday 10 am",
        ),
        (
            "interactive_nfm_reply",
            {"interactive_type": "nfm_reply", "name": "flow", "response": {"flow_token": "visit-42", "rating": "5"}},
            "Sent",
        ),
    ],
)
def test_it_keeps_the_chosen_interactive_reply(deliver, name, expected, body):
    deliver(name)
    message = only_message()
    assert message.message_type == "interactive"
    assert expected.items() <= message.data.items()
    assert message.message_body == body
    assert message.reply_to_whatsapp_id == OUR_WAMID


def test_it_keeps_a_template_quick_reply_button(deliver):
    deliver("button_message")
    message = only_message()
    assert message.message_type == "button"
    assert message.data["payload"] == "STOP_PROMOS"
    assert message.message_body == "Stop promotions"


def test_it_links_a_reply_to_the_quoted_message_even_when_it_is_unknown(deliver):
    deliver("text_reply")
    message = only_message()
    assert message.reply_to_whatsapp_id == OUR_WAMID
    assert not Message.objects.filter(whatsapp_message_id=OUR_WAMID).exists()
    assert message.data["context"] == {"from": "15550783881", "id": OUR_WAMID}


def test_it_marks_forwarded_messages_and_keeps_ad_referrals(deliver):
    deliver("text_forwarded")
    deliver("referral_message")
    assert Message.objects.get(whatsapp_message_id=wamid("FWD01")).data["forwarded"] is True
    referral = Message.objects.get(whatsapp_message_id=wamid("REF01")).data["referral"]
    assert referral["source_type"] == "ad"
    assert referral["ctwa_clid"].startswith("ARAk")


def test_a_reaction_attaches_to_its_message_and_an_empty_one_removes_it(deliver):
    ours = our_message()
    before = ours.updated_at
    deliver("reaction_message")
    reaction = Message.objects.get(message_type="reaction")
    assert reaction.reply_to_whatsapp_id == OUR_WAMID
    assert reaction.message_body == "\U0001f44d"
    ours.refresh_from_db()
    assert ours.updated_at > before  # the chat poll re-renders the reacted-to message
    conversation = ours.conversation
    conversation.refresh_from_db()
    assert conversation.unread_count == 0  # a reaction is not an unread message

    deliver("reaction_removed")
    shown = Message.objects.filter(message_type="reaction", reply_to_whatsapp_id=OUR_WAMID).exclude(message_body="")
    assert not shown.exists()
    reaction.refresh_from_db()
    assert reaction.data["emoji"] == "\U0001f44d"  # the history stays
    assert reaction.data["superseded_by"] == wamid("REA02")


def test_a_late_reaction_does_not_undo_a_newer_removal(deliver):
    our_message()
    deliver("reaction_removed")  # delivered first, although sent a minute later
    deliver("reaction_message")
    shown = Message.objects.filter(message_type="reaction").exclude(message_body="")
    assert not shown.exists()
    assert Message.objects.filter(message_type="reaction").count() == 2


def test_an_edit_changes_the_original_and_keeps_its_history(deliver):
    deliver("text_message")
    event = deliver("edit_message")
    assert event.processing_error == ""
    message = only_message()
    assert message.message_body == "Hello, is the site visit still on for Saturday?"
    assert message.data["edits"][0]["body"] == "Hello, is the site visit still on for Friday?"
    assert Message.objects.count() == 1


def test_a_revoke_blanks_the_original_and_keeps_what_it_said(deliver):
    deliver("text_message")
    deliver("revoke_message")
    message = only_message()
    assert message.message_body == ""
    assert message.data["revoked"] is True
    assert message.data["revoked_content"]["body"] == "Hello, is the site visit still on for Friday?"


def test_an_edit_or_revoke_of_an_unknown_message_is_kept_as_a_message(deliver):
    deliver("edit_message")
    edited = Message.objects.get(whatsapp_message_id=wamid("EDT01"))
    assert edited.message_type == "text"
    assert edited.message_body == "Hello, is the site visit still on for Saturday?"
    assert edited.data["edit_of"] == wamid("TEXT01")
    deliver("revoke_message")
    revoke = Message.objects.get(whatsapp_message_id=wamid("RVK01"))
    assert (revoke.message_type, revoke.data["raw_type"]) == ("unsupported", "revoke")


@pytest.mark.parametrize(
    ("name", "raw_type", "body"),
    [
        ("system_message", "system", "Asha changed their phone number to a new number 919876500000"),
        ("order_message", "order", "Order of 2 items: Please deliver by Monday"),
        ("request_welcome", "request_welcome", ""),
        ("unsupported_message", "unsupported", ""),
        ("unknown_type_message", "hologram", ""),
    ],
)
def test_it_keeps_other_types_as_unsupported_with_their_raw_object(deliver, name, raw_type, body):
    deliver(name)
    message = only_message()
    assert message.message_type == "unsupported"
    assert message.data["raw_type"] == raw_type
    sent = load_fixture(name)["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message.data["raw"] == sent
    assert message.message_body == body


def test_it_knows_a_username_customer_by_user_id_alone(deliver):
    deliver("username_customer")
    message = only_message()
    conversation = message.conversation
    assert conversation.other_party is None
    assert conversation.wa_user_id == "US.13491208655302741918"
    assert conversation.contact_name == "Meera"
    assert message.from_phone == "US.13491208655302741918"
    assert message.other_party == "US.13491208655302741918"


def test_it_walks_every_entry_change_message_and_status(deliver):
    ours = our_message(status=Message.Status.SENDING)
    event = deliver("multi_entry")
    assert event.processing_error == ""
    assert set(Message.objects.filter(direction="inbound").values_list("message_body", flat=True)) == {
        "First",
        "From Vikram",
        "(12.97, 77.59)",
        "Second entry",
    }
    asha = Conversation.objects.get(other_party="+919876543210")
    vikram = Conversation.objects.get(other_party="+918765432109")
    assert (asha.contact_name, asha.unread_count) == ("Asha Rao", 3)
    assert (vikram.contact_name, vikram.unread_count) == ("Vikram", 1)
    ours.refresh_from_db()
    assert ours.status == Message.Status.DELIVERED
    assert event.notes["fields"] == [{"field": "message_template_status_update", "where": "entry[1].changes[1]"}]


def test_it_keeps_the_profile_name_current_but_never_reverts_it_with_an_old_message(deliver, post_fixture):
    deliver("text_message")
    newer = load_fixture("text_message")
    value = newer["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["profile"]["name"] = "Asha R."
    value["messages"][0].update(id="wamid.newer", timestamp="1764150000")
    older = json.loads(json.dumps(newer))
    older["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "Old name"
    older["entry"][0]["changes"][0]["value"]["messages"][0].update(id="wamid.older", timestamp="1764000000")
    for body in (newer, older):
        post_body(Client(), json.dumps(body).encode())
        process_webhook_event(WebhookEvent.objects.latest("pk").pk)
    assert Conversation.objects.get().contact_name == "Asha R."
    assert Conversation.objects.get().unread_count == 3


def test_a_lost_race_for_the_same_wamid_stores_it_once(monkeypatch):
    value = load_fixture("text_message")["entry"][0]["changes"][0]["value"]
    msg = value["messages"][0]
    conversation = conversation_get_or_create(phone="+919876543210")
    # Another worker stores it between our check and our insert: the check sees nothing.
    Message.objects.create(
        conversation=conversation, direction="inbound", whatsapp_message_id=msg["id"], message_body="first"
    )
    real_filter = Message.objects.filter

    def filter_blind_to_the_race(*args, **kwargs):
        if kwargs == {"whatsapp_message_id": msg["id"]}:
            return real_filter(pk=None)
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(Message.objects, "filter", filter_blind_to_the_race)
    walk = Walk(isolated=True)
    receive = partial(_receive_message, msg, value["contacts"], value["metadata"], walk)
    assert _item("entry[0].changes[0].messages[0]", walk, receive) == "duplicate"
    monkeypatch.undo()
    assert Message.objects.filter(whatsapp_message_id=msg["id"]).count() == 1
    conversation.refresh_from_db()
    assert conversation.unread_count == 0  # the loser's counters were rolled back with it


def test_it_parses_timestamps_as_strings_or_numbers():
    assert parse_timestamp("1764140000") == SENT_AT
    assert parse_timestamp(1764140000) == SENT_AT
    assert parse_timestamp(1764140000.0) == SENT_AT
    for junk in (None, "", "soon", True, [], {}, -5, 10**20, "1e400", "nan"):
        assert parse_timestamp(junk) is None


def test_a_message_without_a_timestamp_uses_the_time_it_arrived(deliver, post_fixture):
    body = load_fixture("text_message")
    del body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"]
    post_body(Client(), json.dumps(body).encode())
    process_webhook_event(WebhookEvent.objects.get().pk)
    message = only_message()
    assert message.whatsapp_timestamp is None
    assert message.conversation.last_message_at is not None


def test_a_message_without_an_id_is_stored_once_under_a_stable_stand_in():
    body = load_fixture("text_message")
    del body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    for _ in range(2):
        post_body(Client(), json.dumps(body).encode())
        process_webhook_event(WebhookEvent.objects.latest("pk").pk)
    assert only_message().whatsapp_message_id.startswith("no-id:")


def test_a_message_with_no_sender_is_kept_in_the_event_and_reported():
    body = load_fixture("text_message")
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"][0]["from"]
    value["contacts"] = []
    post_body(Client(), json.dumps(body).encode())
    event = WebhookEvent.objects.get()
    process_webhook_event(event.pk)
    event.refresh_from_db()
    assert "names no sender" in event.processing_error
    assert event.notes["outcomes"] == {"unattributed": 1}


def test_one_bad_message_does_not_stop_the_others(post_fixture):
    body = load_fixture("multi_entry")
    body["entry"][0]["changes"][0]["value"]["messages"].insert(0, "not an object")
    post_body(Client(), json.dumps(body).encode())
    event = WebhookEvent.objects.get()
    process_webhook_event(event.pk)
    event.refresh_from_db()
    assert "messages[0] is not an object" in event.processing_error
    assert Message.objects.filter(direction="inbound").count() == 4


def test_the_replay_command_processes_stored_events_again(post_fixture):
    post_fixture("text_message")
    post_fixture("location_message")
    call_command("replay_webhook_events")
    assert Message.objects.count() == 2
    assert not WebhookEvent.objects.filter(processed_at=None).exists()
    assert webhook_events_replay(ids=list(WebhookEvent.objects.values_list("pk", flat=True))) == 2
    assert Message.objects.count() == 2


def test_message_content_never_trusts_the_shape():
    assert message_content({"text": "not an object"}, "text")["message_body"] == ""
    fields = message_content({"image": {"caption": "no id"}}, "image")
    assert fields["media_state"] == Message.MediaState.FAILED
    assert fields["media_error"]
    assert message_content({"interactive": {"type": "carousel_reply"}}, "interactive")["data"]["raw"] == {
        "type": "carousel_reply"
    }


def test_counters_use_whatsapp_time_not_arrival_time(deliver):
    deliver("text_message")
    conversation = Conversation.objects.get()
    assert conversation.last_message_at == SENT_AT
    assert conversation.updated_at > SENT_AT
    assert conversation.updated_at <= timezone.now()


def test_an_edit_from_someone_else_does_not_change_the_original(deliver):
    deliver("text_message")
    body = load_fixture("edit_message")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "918765432109"
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "918765432109"
    post_body(Client(), json.dumps(body).encode())
    process_webhook_event(WebhookEvent.objects.latest("pk").pk)
    assert Message.objects.get(whatsapp_message_id=wamid("TEXT01")).message_body.endswith("Friday?")


def test_an_edit_or_revoke_of_the_latest_message_updates_the_inbox_preview(deliver):
    deliver("text_message")
    deliver("edit_message")
    assert Conversation.objects.get().last_message_preview == "Hello, is the site visit still on for Saturday?"
    deliver("revoke_message")
    assert Conversation.objects.get().last_message_preview == "This message was deleted"


def _text_delivery(tag, body="Hello"):
    delivery = load_fixture("text_message")
    message = delivery["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(id=f"wamid.{tag}", text={"body": body})
    return json.dumps(delivery).encode()


def test_processing_cost_does_not_grow_with_history():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(tag):
        post_body(Client(), _text_delivery(tag))
        event = WebhookEvent.objects.latest("pk")
        with CaptureQueriesContext(connection) as captured:
            process_webhook_event(event.pk)
        return len(captured)

    queries_for("first")  # creates the conversation
    early = queries_for("second")
    conversation = Conversation.objects.get()
    Message.objects.bulk_create(
        Message(conversation=conversation, direction="inbound", whatsapp_message_id=f"wamid.old{i}") for i in range(60)
    )
    for i in range(20):
        post_body(Client(), _text_delivery(f"past{i}"))
    assert queries_for("later") == early


def _from(delivery, **fields):
    message = delivery["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(fields)
    post_body(Client(), json.dumps(delivery).encode())
    event = WebhookEvent.objects.latest("pk")
    process_webhook_event(event.pk)
    event.refresh_from_db()
    return event


def test_a_customer_who_changes_number_stays_one_conversation(deliver):
    deliver("text_message")
    deliver("system_message")
    conversation = Conversation.objects.get()
    assert conversation.other_party == "+919876500000"
    assert only_message_of("system").data["identity_change"] == {"other_party": "+919876500000", "applied": True}
    _from(load_fixture("text_message"), id="wamid.fromnew", **{"from": "919876500000"})
    assert Conversation.objects.count() == 1
    assert Message.objects.filter(conversation=conversation).count() == 3


def test_a_changed_number_that_already_has_a_conversation_keeps_both(deliver):
    conversation_get_or_create(phone="+919876500000")
    deliver("system_message")
    assert Conversation.objects.filter(other_party="+919876543210").exists()
    assert only_message_of("system").data["identity_change"]["applied"] is False


def test_a_customer_whose_user_id_changes_stays_one_conversation(deliver):
    deliver("username_customer")
    deliver("system_user_changed_user_id")
    conversation = Conversation.objects.get()
    assert conversation.wa_user_id == "US.88810000000000000001"
    delivery = load_fixture("username_customer")
    delivery["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = "US.88810000000000000001"
    _from(delivery, id="wamid.fromnewid", from_user_id="US.88810000000000000001")
    assert Conversation.objects.count() == 1
    assert Message.objects.filter(conversation=conversation).count() == 3


def only_message_of(kind):
    return Message.objects.get(message_type="unsupported", data__raw_type=kind)
