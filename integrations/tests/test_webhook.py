"""The webhook endpoint: Meta's handshake, signatures, size cap, storing before answering."""

import json
import logging

import pytest
from django.db import OperationalError
from django.urls import reverse

from integrations import tasks
from integrations.inbound import process_webhook_event
from integrations.models import WebhookEvent
from integrations.tests.conftest import VERIFY_TOKEN, load_fixture, post_body, sign

URL = "/api/whatsapp/webhook"


def test_it_lives_at_the_documented_path():
    assert reverse("integrations:webhook") == URL


# --- verification (GET) ------------------------------------------------------------------


@pytest.mark.django_db
def test_it_answers_the_verification_handshake_with_the_challenge(client):
    response = client.get(
        URL, {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {},
    ],
)
def test_it_refuses_a_handshake_that_is_not_meta_s(client, params):
    assert client.get(URL, params).status_code == 403


@pytest.mark.django_db
def test_it_refuses_a_handshake_with_undecodable_bytes(client):
    query = "hub.mode=subscribe&hub.verify_token=%ff%fe%00&hub.challenge=1"
    assert client.get(f"{URL}?{query}").status_code == 403


@pytest.mark.django_db
def test_it_refuses_every_handshake_while_no_verify_token_is_set(client, settings):
    settings.WHATSAPP_WEBHOOK_VERIFY_TOKEN = ""
    response = client.get(URL, {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"})
    assert response.status_code == 403


# --- deliveries (POST) ----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_stores_a_signed_delivery_byte_for_byte_and_enqueues_after_commit(
    client, django_capture_on_commit_callbacks
):
    # Meta escapes non-ASCII as \uXXXX; the signature covers exactly these bytes.
    body = json.dumps(load_fixture("reaction_message")).encode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_body(client, body)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert bytes(event.body) == body
    assert event.signed is True
    assert event.processed_at is None  # processing is the worker's job
    assert callbacks == [tasks.webhook_wake]  # a worker is woken once the row is committed


@pytest.mark.django_db
@pytest.mark.parametrize(
    "signature",
    [
        "",
        "sha256=" + "0" * 64,
        "sha1=abc",
        "sha256=not-hex-at-all-\u00e9",
        sign(b"another body"),
        sign(b'{"object":"whatsapp_business_account","entry":[]}', secret="someone-else"),
    ],
)
def test_it_refuses_a_missing_or_wrong_signature_and_stores_nothing(client, signature):
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    response = post_body(client, body, signature=signature)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_it_accepts_an_upper_case_hex_signature(client):
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert post_body(client, body, signature=sign(body).upper().replace("SHA256=", "sha256=")).status_code == 200


@pytest.mark.django_db
def test_it_accepts_unsigned_deliveries_only_in_debug_without_a_secret(client, settings, caplog):
    settings.WHATSAPP_APP_SECRET = ""
    settings.DEBUG = True
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    with caplog.at_level(logging.WARNING, logger="integrations.webhook"):
        assert post_body(client, body, signature="").status_code == 200
    assert WebhookEvent.objects.get().signed is False
    assert "unsigned" in caplog.text

    settings.DEBUG = False
    assert post_body(client, body, signature="").status_code == 503  # Meta keeps it and retries
    assert WebhookEvent.objects.count() == 1


@pytest.mark.django_db
def test_it_still_checks_signatures_in_debug_when_a_secret_is_set(client, settings):
    settings.DEBUG = True
    assert post_body(client, b"{}", signature="").status_code == 401
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_body_over_the_cap_with_413_and_stores_nothing(client):
    body = b'{"pad":"' + b"x" * (4 * 1024 * 1024) + b'"}'
    response = post_body(client, body)
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_its_cap_is_its_own_not_django_s_upload_limit(client, settings):
    # DATA_UPLOAD_MAX_MEMORY_SIZE would turn request.body into a 400; the webhook reads the stream itself.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = 50_000
    body = json.dumps({"object": "whatsapp_business_account", "entry": [], "pad": "x" * 20_000}).encode()
    assert post_body(client, body).status_code == 200
    assert bytes(WebhookEvent.objects.get().body) == body
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = 10_000
    assert post_body(client, body).status_code == 413


@pytest.mark.django_db
def test_it_stores_invalid_json_with_a_processing_error_and_answers_200(client):
    body = b'{"object": "whatsapp_business_account", "entry": [ broken'
    assert post_body(client, body).status_code == 200
    event = WebhookEvent.objects.get()
    process_webhook_event(event.pk)
    event.refresh_from_db()
    assert event.processed_at is not None
    assert "not valid JSON" in event.processing_error


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"[]", b'"text"', b"{}", b'{"entry": {"not": "a list"}}', b"null", b"NaN", b""])
def test_it_stores_shapes_it_does_not_know_and_marks_them(client, body):
    assert post_body(client, body).status_code == 200
    event = WebhookEvent.objects.get()
    process_webhook_event(event.pk)
    event.refresh_from_db()
    assert event.processed_at is not None
    assert event.processing_error


@pytest.mark.django_db
def test_it_answers_503_not_500_when_the_database_cannot_store(client, monkeypatch):
    # The database is the one part a test cannot unplug; make its create fail as an outage would.
    def outage(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(WebhookEvent.objects, "create", outage)
    response = post_body(client, b'{"object":"whatsapp_business_account","entry":[]}')
    assert response.status_code == 503
    assert response["Retry-After"]


@pytest.mark.django_db
def test_it_asks_for_a_length_when_a_delivery_has_none(client):
    response = client.generic("POST", URL, HTTP_X_HUB_SIGNATURE_256=sign(b""))
    assert response.status_code == 411
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_it_allows_only_get_and_post(client):
    assert client.put(URL, data=b"{}").status_code == 405
    assert client.delete(URL).status_code == 405


@pytest.mark.django_db
def test_storing_a_delivery_is_one_insert_whatever_is_stored_already(client, django_assert_num_queries):
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    for _ in range(30):
        post_body(client, body)
    # The INSERT alone, in autocommit: no transaction around it.
    with django_assert_num_queries(1):
        assert post_body(client, body).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_it_enqueues_after_the_insert_committed_and_a_broker_outage_leaves_the_event_to_the_sweeper(
    client, monkeypatch
):
    from django.core.cache import cache
    from django.db import connection
    from django.utils import timezone

    from integrations.inbound import webhook_events_sweep
    from integrations.tasks import WAKE_KEY, webhook_drain_task

    enqueued_in_a_transaction = []

    def broker_down():
        enqueued_in_a_transaction.append(connection.in_atomic_block)
        raise ConnectionError("Error 111 connecting to the broker")

    cache.delete(WAKE_KEY)
    monkeypatch.setattr(webhook_drain_task, "delay", broker_down)
    assert post_body(client, json.dumps(load_fixture("text_message")).encode()).status_code == 200
    assert enqueued_in_a_transaction == [False]  # the INSERT had committed on its own
    event = WebhookEvent.objects.get()
    assert event.processed_at is None
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timezone.timedelta(minutes=2))
    assert webhook_events_sweep() == 1
    event.refresh_from_db()
    assert event.processed_at is not None


def test_a_web_process_loads_the_broker_transport_at_start_even_with_the_broker_down():
    import os
    import subprocess
    import sys

    env = {**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}  # nothing listens there
    check = "import sys, madio_whatsapp.wsgi; print('kombu.transport.redis' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_deliveries_wakes_one_worker_and_the_next_burst_another(client, monkeypatch):
    from django.core.cache import cache

    from integrations.inbound import webhook_events_drain
    from integrations.tasks import WAKE_KEY, webhook_drain_task

    published = []
    monkeypatch.setattr(webhook_drain_task, "delay", lambda: published.append(1))
    cache.delete(WAKE_KEY)
    body = json.dumps(load_fixture("text_message")).encode()
    for _ in range(20):
        assert post_body(client, body).status_code == 200
    assert len(published) == 1  # one Celery message for the burst, not one per delivery
    assert webhook_events_drain() == 20
    assert post_body(client, body).status_code == 200
    assert len(published) == 2  # the drain found nothing more and cleared the wake


@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_never_take_the_same_delivery(client):
    import threading

    from django.db import connection, transaction

    from integrations.inbound import _claim

    body = json.dumps(load_fixture("text_message")).encode()
    for _ in range(3):
        post_body(client, body)
    first = WebhookEvent.objects.order_by("pk").first()
    locked, release = threading.Event(), threading.Event()

    def another_worker_claiming():
        with transaction.atomic():
            WebhookEvent.objects.select_for_update().filter(pk=first.pk).get()
            locked.set()
            release.wait(10)
        connection.close()

    worker = threading.Thread(target=another_worker_claiming)
    worker.start()
    try:
        assert locked.wait(10)
        claimed = _claim(10)
    finally:
        release.set()
        worker.join()
    assert first.pk not in claimed
    assert len(claimed) == 2
