"""The send task, called directly, against the simulator over real HTTP."""

import time
import uuid

import pytest
from celery.exceptions import Retry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from chat.errors import INTERRUPTED_TITLE, TEMPLATE_TITLE, UNAVAILABLE_TITLE, describe_send_error
from chat.models import Message, MessageTemplate
from chat.services import message_queue, message_send_text
from chat.services.sends import _settle_stuck
from integrations.outbound import UNCERTAIN_TITLE, RetryLater, message_deliver, messages_sweep, retry_delay
from integrations.tasks import message_mark_read_task, message_send_task
from integrations.templates import templates_sync
from integrations.throughput import throughput_slot
from integrations.whatsapp import CloudAPIClient, WhatsAppError

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def sends(simulator):
    return simulator.state()["sends"]


def test_it_sends_a_queued_text_and_stores_the_whatsapp_id(whatsapp, conversation, agent):
    message = message_send_text(conversation=conversation, author=agent, body="Your order is ready")
    before = Message.objects.get(pk=message.pk).updated_at
    assert message_send_task(message.pk) == "sent"
    message.refresh_from_db()
    (send,) = sends(whatsapp)
    assert message.status == Message.Status.SENT
    assert message.whatsapp_message_id == send["wamid"]
    assert message.sent_at is not None
    assert message.updated_at > before
    assert message.send_attempts == 1
    assert send["body"]["to"] == "+919876543210"
    assert send["body"]["text"] == {"body": "Your order is ready", "preview_url": False}
    assert send["body"]["biz_opaque_callback_data"] == f"madio:{message.pk}"


def test_it_never_sends_a_message_twice(whatsapp, conversation, agent):
    message = message_send_text(conversation=conversation, author=agent, body="Once")
    assert message_send_task(message.pk) == "sent"
    assert message_send_task(message.pk) == "skipped"  # a redelivered or duplicate task
    Message.objects.filter(pk=message.pk).update(status=Message.Status.QUEUED)  # even if the status said so
    assert message_send_task(message.pk) == "skipped"
    assert len(sends(whatsapp)) == 1


def test_it_uploads_a_file_first_then_sends_it_by_media_id(whatsapp, conversation, agent):
    upload = SimpleUploadedFile("invoice.pdf", b"%PDF-1.4 invoice", content_type="application/pdf")
    message = message_queue(
        conversation=conversation,
        author=agent,
        message_type=Message.Type.DOCUMENT,
        caption="Invoice for May",
        file=upload,
        file_name="invoice.pdf",
        mime_type="application/pdf",
    )
    assert message_send_task(message.pk) == "sent"
    message.refresh_from_db()
    assert whatsapp.media[message.media_id]["data"] == b"%PDF-1.4 invoice"
    assert whatsapp.media[message.media_id]["mime_type"] == "application/pdf"
    assert sends(whatsapp)[0]["body"]["document"] == {
        "id": message.media_id,
        "caption": "Invoice for May",
        "filename": "invoice.pdf",
    }
    assert message.file.read() == b"%PDF-1.4 invoice"  # kept for the SharePoint backup


def test_it_sends_media_by_link(whatsapp, conversation, agent):
    message = message_queue(
        conversation=conversation,
        author=agent,
        message_type=Message.Type.IMAGE,
        caption="The site",
        media_link="https://files.example.com/site.jpg",
    )
    assert message_send_task(message.pk) == "sent"
    assert sends(whatsapp)[0]["body"]["image"] == {"link": "https://files.example.com/site.jpg", "caption": "The site"}
    assert whatsapp.media == {}


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("location", {"latitude": 19.07, "longitude": 72.87, "name": "Office", "address": "Colaba"}),
        ("contacts", [{"name": {"formatted_name": "Ravi"}, "phones": [{"phone": "+919876543211"}]}]),
        (
            "interactive",
            {
                "type": "button",
                "body": {"text": "Confirm?"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}}]},
            },
        ),
    ],
)
def test_it_sends_structured_messages_as_stored(whatsapp, conversation, agent, kind, content):
    message = message_queue(conversation=conversation, author=agent, message_type=kind, data={kind: content})
    assert message_send_task(message.pk) == "sent"
    assert sends(whatsapp)[0]["body"][kind] == content


def test_it_sends_a_reaction_to_a_customers_message(whatsapp, conversation, agent):
    message = message_queue(
        conversation=conversation,
        author=agent,
        message_type=Message.Type.REACTION,
        body="🙏",
        reply_to_whatsapp_id="wamid.CUSTOMER1",
    )
    assert message_send_task(message.pk) == "sent"
    body = sends(whatsapp)[0]["body"]
    assert body["reaction"] == {"message_id": "wamid.CUSTOMER1", "emoji": "🙏"}
    assert "context" not in body


def test_it_sends_a_reply_with_its_context(whatsapp, conversation, agent):
    message = message_send_text(
        conversation=conversation, author=agent, body="Yes, tomorrow", reply_to_whatsapp_id="wamid.Q"
    )
    assert message_send_task(message.pk) == "sent"
    assert sends(whatsapp)[0]["body"]["context"] == {"message_id": "wamid.Q"}


def template_message(conversation, agent, parameters):
    template = {"name": "order_update", "language": "en_US", "parameters": parameters}
    return message_queue(
        conversation=conversation, author=agent, message_type=Message.Type.TEMPLATE, data={"template": template}
    )


def test_it_sends_a_template_after_checking_its_parameters(whatsapp, conversation, agent):
    templates_sync()
    conversation.last_inbound_at = None  # templates need no open window
    conversation.save(update_fields=["last_inbound_at"])
    message = template_message(conversation, agent, ["Asha", "A-17"])
    assert message_send_task(message.pk) == "sent"
    assert sends(whatsapp)[0]["body"]["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "A-17"}]}
        ],
    }


def test_it_fails_a_template_with_the_wrong_parameters_without_asking_whatsapp(whatsapp, conversation, agent):
    templates_sync()
    message = template_message(conversation, agent, ["Asha"])
    assert message_send_task(message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error_title == TEMPLATE_TITLE
    assert "needs 2 body value(s), but 1 were given" in message.error_details
    assert sends(whatsapp) == []


def test_it_retries_a_rate_limit_honouring_retry_after(whatsapp, conversation, agent):
    whatsapp.add_fault(code=130429, retry_after=37, times=1)
    message = message_send_text(conversation=conversation, author=agent, body="Busy")
    with pytest.raises(Retry) as retry:
        message_send_task(message.pk)
    assert isinstance(retry.value.__cause__, RetryLater)
    assert retry.value.__cause__.countdown == 37  # the countdown passed to self.retry
    message.refresh_from_db()
    assert (message.status, message.error_code, message.send_attempts) == (Message.Status.QUEUED, 130429, 1)
    assert message_send_task(message.pk) == "sent"
    message.refresh_from_db()
    assert (message.status, message.error_code, message.send_attempts) == (Message.Status.SENT, None, 2)
    assert len(sends(whatsapp)) == 1


@pytest.mark.parametrize(("code", "floor"), [(131056, 6), (131048, 60), (4, 60), (131000, 0), (2, 0)])
def test_it_waits_at_least_what_each_retryable_code_needs(whatsapp, conversation, agent, code, floor):
    whatsapp.add_fault(code=code, times=1)
    message = message_send_text(conversation=conversation, author=agent, body="Retry me")
    with pytest.raises(RetryLater) as later:
        message_deliver(message_id=message.pk)
    assert floor <= later.value.countdown
    assert later.value.countdown <= max(floor, 2)


def test_it_reschedules_a_send_that_would_pass_the_throughput_cap(whatsapp, conversation, agent, settings):
    settings.WHATSAPP_SEND_RATE = 1
    settings.WHATSAPP_SEND_RATE_MAX_WAIT = 0
    settings.WHATSAPP_PHONE_NUMBER_ID = whatsapp.phone_number_id
    now = time.time()
    for _ in range(4):  # other workers booked the next two seconds
        throughput_slot(number_id=whatsapp.phone_number_id, rate=1, now=now)
    message = message_send_text(conversation=conversation, author=agent, body="Wait your turn")
    with pytest.raises(Retry) as retry:
        message_send_task(message.pk)
    assert 0 < retry.value.__cause__.countdown <= 2
    message.refresh_from_db()
    assert (message.status, message.send_attempts) == (Message.Status.QUEUED, 0)  # waiting is no failed try
    assert sends(whatsapp) == []


def test_it_backs_off_exponentially_with_jitter_and_a_cap(settings):
    settings.WHATSAPP_SEND_RETRY_BASE_SECONDS = 2
    settings.WHATSAPP_SEND_RETRY_MAX_DELAY = 60
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 32), (6, 60), (9, 60)]:
        delays = {retry_delay(attempt=attempt) for _ in range(20)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1  # jitter: workers that failed together do not retry together


def test_it_fails_a_permanent_error_at_once_and_keeps_metas_words(whatsapp, conversation, agent):
    whatsapp.add_fault(code=131047)
    message = message_send_text(conversation=conversation, author=agent, body="Late")
    assert message_send_task(message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.failed_at is not None
    assert message.error_code == 131047
    assert message.error_title == "(#131047) Re-engagement message"
    assert message.error_details == "Re-engagement message"
    assert message.send_attempts == 1
    assert "24 hours" in describe_send_error(message.error_code, message.error_title)
    assert "template" in describe_send_error(message.error_code, message.error_title)


def test_it_fails_after_the_last_allowed_try(whatsapp, conversation, agent, settings):
    settings.WHATSAPP_SEND_MAX_ATTEMPTS = 3
    whatsapp.add_fault(code=131000)
    message = message_send_text(conversation=conversation, author=agent, body="Never")
    for _ in range(2):
        with pytest.raises(Retry):
            message_send_task(message.pk)
    assert message_send_task(message.pk) == "failed"
    message.refresh_from_db()
    assert (message.status, message.error_code, message.send_attempts) == (Message.Status.FAILED, 131000, 3)
    assert sends(whatsapp) == []


def test_it_does_not_repeat_a_send_whose_answer_never_came(whatsapp, conversation, agent, settings):
    settings.WHATSAPP_API_READ_TIMEOUT = 0.3
    whatsapp.add_fault(delay=1.0, times=1)  # Meta accepts, but answers after the client gave up
    message = message_send_text(conversation=conversation, author=agent, body="Slow")
    assert message_send_task(message.pk) == "failed"
    message.refresh_from_db()
    assert message.error_title == UNCERTAIN_TITLE
    assert "may have accepted" in message.error_details
    assert message_send_task(message.pk) == "skipped"
    deadline = time.monotonic() + 5
    while not sends(whatsapp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sends(whatsapp)) == 1


class WorkerDied(BaseException):
    """What a killed worker looks like from inside: nothing after this line runs."""


class DiesAfterMetaAccepts(CloudAPIClient):
    def send(self, *args, **kwargs):
        super().send(*args, **kwargs)
        raise WorkerDied


def test_it_sends_once_when_the_worker_dies_between_send_and_save(whatsapp, conversation, agent):
    message = message_send_text(conversation=conversation, author=agent, body="Crash")
    with pytest.raises(WorkerDied):
        message_deliver(message_id=message.pk, client=DiesAfterMetaAccepts.from_settings())
    message.refresh_from_db()
    # The documented gap: Meta accepted, the wamid was never saved; the row stays claimed.
    assert (message.status, message.whatsapp_message_id) == (Message.Status.SENDING, None)
    assert message_send_task(message.pk) == "skipped"  # acks_late redelivers: the claim holds
    later = timezone.now() + timezone.timedelta(minutes=16)
    assert messages_sweep(now=later, enqueue=lambda pk: None) == {"requeued": 0, "failed": 1}
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error_title == INTERRUPTED_TITLE
    assert "before resending" in describe_send_error(message.error_code, message.error_title)
    assert len(sends(whatsapp)) == 1


def a_document(conversation, agent):
    upload = SimpleUploadedFile("plan.pdf", b"%PDF-1.4 plan", content_type="application/pdf")
    return message_queue(
        conversation=conversation,
        author=agent,
        message_type=Message.Type.DOCUMENT,
        file=upload,
        file_name="plan.pdf",
        mime_type="application/pdf",
    )


class DiesDuringTheUpload(CloudAPIClient):
    def upload_media(self, *args, **kwargs):
        raise WorkerDied


def after_the_sweepers_wait():
    return timezone.now() + timezone.timedelta(minutes=16)


def test_it_sends_again_once_when_the_worker_died_before_the_request_left(whatsapp, conversation, agent):
    message = a_document(conversation, agent)
    with pytest.raises(WorkerDied):
        message_deliver(message_id=message.pk, client=DiesDuringTheUpload.from_settings())
    message.refresh_from_db()
    assert (message.status, message.send_started_at) == (Message.Status.SENDING, None)
    enqueued = []
    assert messages_sweep(now=after_the_sweepers_wait(), enqueue=enqueued.append) == {"requeued": 1, "failed": 0}
    assert enqueued == [message.pk]
    assert message_send_task(message.pk) == "sent"
    assert message_send_task(message.pk) == "skipped"  # the killed worker's own task, redelivered
    message.refresh_from_db()
    assert (message.status, message.send_attempts) == (Message.Status.SENT, 2)
    assert message.send_started_at is not None
    assert len(sends(whatsapp)) == 1


def test_a_slow_worker_whose_claim_the_sweeper_took_back_sends_nothing(whatsapp, conversation, agent):
    message = a_document(conversation, agent)
    enqueued = []

    class SweptWhileUploading(CloudAPIClient):
        def upload_media(self, *args, **kwargs):
            media_id = super().upload_media(*args, **kwargs)
            messages_sweep(now=after_the_sweepers_wait(), enqueue=enqueued.append)
            return media_id

    assert message_deliver(message_id=message.pk, client=SweptWhileUploading.from_settings()) == "skipped"
    assert sends(whatsapp) == []
    assert enqueued == [message.pk]
    assert message_send_task(message.pk) == "sent"
    assert len(sends(whatsapp)) == 1
    assert len(whatsapp.media) == 1  # the new try reuses the media id the slow one stored


def test_a_stamp_from_an_earlier_try_does_not_count_for_the_next(whatsapp, conversation, agent):
    whatsapp.add_fault(code=131000, times=1)
    message = a_document(conversation, agent)
    with pytest.raises(Retry):
        message_send_task(message.pk)  # this try's request left, and WhatsApp refused it
    assert Message.objects.get(pk=message.pk).send_started_at is not None
    Message.objects.filter(pk=message.pk).update(media_id="")  # so the next try uploads again
    with pytest.raises(WorkerDied):
        message_deliver(message_id=message.pk, client=DiesDuringTheUpload.from_settings())
    assert messages_sweep(now=after_the_sweepers_wait(), enqueue=lambda pk: None) == {"requeued": 1, "failed": 0}
    assert message_send_task(message.pk) == "sent"


def test_a_worker_that_keeps_dying_before_the_request_stops_after_the_last_try(whatsapp, conversation, agent, settings):
    settings.WHATSAPP_SEND_MAX_ATTEMPTS = 2
    message = a_document(conversation, agent)
    for _ in range(2):
        with pytest.raises(WorkerDied):
            message_deliver(message_id=message.pk, client=DiesDuringTheUpload.from_settings())
        result = messages_sweep(now=after_the_sweepers_wait(), enqueue=lambda pk: None)
    assert result == {"requeued": 0, "failed": 1}
    message.refresh_from_db()
    assert (message.status, message.error_title) == (Message.Status.FAILED, UNAVAILABLE_TITLE)
    assert "nothing was sent" in message.error_details
    assert sends(whatsapp) == []


def test_a_row_stamped_after_the_sweeper_read_it_is_not_failed_as_never_sent(whatsapp, conversation, agent):
    message = message_send_text(conversation=conversation, author=agent, body="Late stamp")
    Message.objects.filter(pk=message.pk).update(status=Message.Status.SENDING, send_started_at=timezone.now())
    _settle_stuck([message.pk], timezone.now(), started=False, title=UNAVAILABLE_TITLE, details="")
    assert Message.objects.get(pk=message.pk).status == Message.Status.SENDING


def test_rows_sending_before_the_stamp_existed_are_never_sent_again(whatsapp, conversation, agent):
    """Migration 0005: a row already "sending" may have left, so it is stamped as if it had."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("chat.migrations.0005_message_send_started_at")
    message = message_send_text(conversation=conversation, author=agent, body="Mid-upgrade")
    waiting = message_send_text(conversation=conversation, author=agent, body="Still queued")
    Message.objects.filter(pk=message.pk).update(status=Message.Status.SENDING, send_attempts=1)

    migration.stamp_rows_already_sending(apps, None)

    assert messages_sweep(now=after_the_sweepers_wait(), enqueue=lambda pk: None) == {"requeued": 1, "failed": 1}
    message.refresh_from_db()
    assert message.error_title == INTERRUPTED_TITLE
    assert Message.objects.get(pk=waiting.pk).send_started_at is None


def test_it_sweeps_messages_left_queued_and_never_sends_them_twice(whatsapp, conversation, agent):
    old = timezone.now() - timezone.timedelta(minutes=30)
    stale = message_send_text(conversation=conversation, author=agent, body="Broker was down")
    fresh = message_send_text(conversation=conversation, author=agent, body="Just queued")
    sent = message_send_text(conversation=conversation, author=agent, body="Already out")
    message_send_task(sent.pk)
    Message.objects.filter(pk__in=[stale.pk, sent.pk]).update(created_at=old, updated_at=old)
    enqueued = []
    assert messages_sweep(enqueue=enqueued.append) == {"requeued": 1, "failed": 0}
    assert enqueued == [stale.pk]
    assert messages_sweep(enqueue=enqueued.append) == {"requeued": 0, "failed": 0}  # not every minute
    assert message_send_task(stale.pk) == "sent"
    assert message_send_task(stale.pk) == "skipped"  # the original task, arriving late
    assert [s["body"]["text"]["body"] for s in sends(whatsapp)] == ["Already out", "Broker was down"]
    assert Message.objects.get(pk=fresh.pk).status == Message.Status.QUEUED


def test_it_marks_an_inbound_message_read_at_whatsapp(whatsapp, conversation):
    message = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        whatsapp_message_id="wamid.INBOUND1",
        message_body="Hi",
    )
    assert message_mark_read_task(message.pk) is True
    assert [r["message_id"] for r in whatsapp.state()["reads"]] == ["wamid.INBOUND1"]


def test_it_drops_a_read_receipt_whatsapp_refuses(whatsapp, conversation):
    message = Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        whatsapp_message_id="not-a-wamid",
    )
    assert message_mark_read_task(message.pk) is False
    assert whatsapp.state()["reads"] == []


def test_it_fails_a_message_with_nothing_to_send(whatsapp, conversation, agent):
    message = message_queue(conversation=conversation, author=agent, message_type=Message.Type.IMAGE)
    assert message_send_task(message.pk) == "failed"
    message.refresh_from_db()
    assert message.error_title == "There is no file or link to send"
    assert "There is no file or link to send" in describe_send_error(None, message.error_title)


def test_it_says_why_in_words_a_person_understands():
    assert "access token" in describe_send_error(190, "Invalid OAuth access token")
    assert "not be on WhatsApp" in describe_send_error(131026, "Message undeliverable")
    assert describe_send_error(999999, "Something odd") == "WhatsApp did not accept the message: Something odd."
    assert describe_send_error(None, "") == "The message could not be sent."


def test_it_syncs_templates_and_keeps_the_ones_meta_dropped(whatsapp):
    assert templates_sync() == 6
    assert MessageTemplate.objects.get(name="order_update", language="hi").status == "APPROVED"
    whatsapp.templates = [t for t in whatsapp.templates if t["name"] != "festival_offer"]
    whatsapp.templates[0] = {**whatsapp.templates[0], "status": "PAUSED"}
    assert templates_sync() == 5
    assert MessageTemplate.objects.get(name="festival_offer").status == "DELETED"
    assert MessageTemplate.objects.get(name="hello_world").status == "PAUSED"
    assert MessageTemplate.objects.count() == 6


def test_it_keeps_the_templates_when_whatsapp_refuses_the_list(whatsapp, settings):
    templates_sync()
    settings.WHATSAPP_ACCESS_TOKEN = "expired"
    with pytest.raises(WhatsAppError):
        templates_sync()
    assert MessageTemplate.objects.filter(status="APPROVED").count() == 5


def test_it_ignores_a_read_receipt_for_a_message_that_is_gone(whatsapp):
    assert message_mark_read_task(uuid.uuid4().int % 10**9) is False
