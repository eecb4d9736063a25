"""/metrics: counts from other processes (Celery workers) show, and the page is not public."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from integrations import metrics

ROOT = Path(__file__).resolve().parents[2]


def scrape(client, **extra):
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:200]
    return response.content.decode()


def sample(text, name, **labels):
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(key) == value for key, value in labels.items()):
                return found.value
    return 0.0


def in_another_process(code):
    """Run `code` in a separate Python process with this project's settings, as a worker is."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "madio_whatsapp.settings"}
    setup = "import django; django.setup(); from integrations import metrics; "
    subprocess.run([sys.executable, "-c", setup + code], cwd=ROOT, env=env, check=True, timeout=60)


@pytest.mark.django_db
def test_it_shows_counts_made_in_another_process(client):
    before = scrape(client)
    in_another_process(
        "metrics.record_message('outbound', 'template'); metrics.record_message('outbound', 'template'); "
        "metrics.record_send_latency(1.5); metrics.record_webhook_processing(0.02); "
        "metrics.record_sharepoint_upload('uploaded')"
    )
    after = scrape(client)
    assert sample(after, "whatsapp_messages_total", direction="outbound", type="template") == (
        sample(before, "whatsapp_messages_total", direction="outbound", type="template") + 2
    )
    assert (
        sample(after, "whatsapp_send_latency_seconds_count")
        == sample(before, "whatsapp_send_latency_seconds_count") + 1
    )
    assert sample(after, "whatsapp_send_latency_seconds_bucket", le="2.0") == (
        sample(before, "whatsapp_send_latency_seconds_bucket", le="2.0") + 1
    )
    assert sample(after, "whatsapp_webhook_processing_seconds_count") == (
        sample(before, "whatsapp_webhook_processing_seconds_count") + 1
    )
    assert sample(after, "sharepoint_uploads_total", status="uploaded") == (
        sample(before, "sharepoint_uploads_total", status="uploaded") + 1
    )


@pytest.mark.django_db
def test_it_shows_counts_made_in_this_process_too(client):
    before = sample(scrape(client), "whatsapp_messages_total", direction="inbound", type="image")
    metrics.record_message("inbound", "image")
    assert sample(scrape(client), "whatsapp_messages_total", direction="inbound", type="image") == before + 1


def test_it_refuses_a_direction_it_does_not_know():
    with pytest.raises(ValueError, match="inbound or outbound"):
        metrics.record_message("sideways", "text")


@pytest.mark.django_db
def test_it_keeps_metrics_from_other_addresses(client, settings):
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert "whatsapp" in scrape(client, REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-secret")


@pytest.mark.django_db
def test_it_wants_an_allowed_address_when_no_token_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


@pytest.mark.django_db
def test_it_counts_requests_through_django_prometheus(client):
    text = scrape(client)
    assert "django_http_requests_total_by_method_total" in text


def test_it_shows_the_latency_histograms_before_anything_is_recorded(tmp_path):
    """A fresh web process with an empty metrics directory lists them at zero."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "madio_whatsapp.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    code = (
        "import django; django.setup(); from django.test import Client; "
        "print(Client().get('/metrics', HTTP_HOST='127.0.0.1').content.decode())"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60, capture_output=True)
    text = out.stdout.decode()
    assert sample(text, "whatsapp_send_latency_seconds_count") == 0.0
    assert "whatsapp_send_latency_seconds_bucket" in text
    assert "whatsapp_webhook_processing_seconds_bucket" in text


@pytest.mark.django_db
def test_it_counts_each_sharepoint_backup_outcome(client):
    from integrations.sharepoint_backup import record_backup_outcome

    before = scrape(client)
    record_backup_outcome("uploaded", message_id=1)
    record_backup_outcome("failed", message_id=2, reason="accessDenied")
    after = scrape(client)
    for outcome in ("uploaded", "failed"):
        assert sample(after, "sharepoint_uploads_total", status=outcome) == (
            sample(before, "sharepoint_uploads_total", status=outcome) + 1
        )
