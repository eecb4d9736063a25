"""Repeated failed logins lock that username out from that address, on the web page and the token API."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import RequestFactory, override_settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from madio_whatsapp.security import client_ip

LIMIT = 5


def token_url():
    try:
        return reverse("token_obtain")
    except NoReverseMatch:
        return None


needs_token_api = pytest.mark.skipif(token_url() is None, reason="/api/auth/token is not routed yet")


def web_login(client, password, username="alice", address="10.1.1.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def api_login(client, password, username="alice", address="10.1.1.1"):
    return client.post(
        token_url(), {"username": username, "password": password}, content_type="application/json", REMOTE_ADDR=address
    )


def test_it_locks_the_web_login_after_the_failure_limit(client, agent, settings):
    assert settings.AXES_FAILURE_LIMIT == LIMIT
    for _ in range(LIMIT - 1):
        response = web_login(client, "wrong")
        assert response.status_code == 200
        assert "did not match" in response.content.decode()
    locked = web_login(client, "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins. Try again in 15 minutes." in locked.content.decode()
    assert locked["Retry-After"] == str(15 * 60)
    # Now even the right password is refused, and no session is made.
    refused = web_login(client, "alice-password-1")
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session


def test_it_shows_a_clear_page_without_inline_script(client, agent):
    for _ in range(LIMIT):
        response = web_login(client, "wrong")
    body = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert "<script>" not in body
    assert 'href="/accounts/login/"' in body


def test_it_locks_only_that_username_from_that_address(client, agent, outsider):
    for _ in range(LIMIT):
        web_login(client, "wrong")
    assert web_login(client, "alice-password-1", address="10.2.2.2").status_code == 302
    client.logout()
    assert web_login(client, "charlie-password-1", username="charlie").status_code == 302


def test_it_forgets_failures_after_a_successful_login(client, agent):
    for _ in range(LIMIT - 1):
        web_login(client, "wrong")
    assert web_login(client, "alice-password-1").status_code == 302
    client.logout()
    for _ in range(LIMIT - 1):
        assert web_login(client, "wrong").status_code == 200


def test_it_lets_the_user_in_again_after_the_cool_off(client, agent):
    for _ in range(LIMIT):
        web_login(client, "wrong")
    assert web_login(client, "alice-password-1").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert web_login(client, "alice-password-1").status_code == 302


def test_it_never_records_the_password(client, agent):
    web_login(client, "hunter2-secret")
    attempt = AccessAttempt.objects.get()
    assert "hunter2-secret" not in attempt.post_data
    assert attempt.ip_address == "10.1.1.1"


@needs_token_api
def test_it_locks_the_token_api_with_a_clear_json_answer(client, agent):
    for _ in range(LIMIT - 1):
        assert api_login(client, "wrong").status_code == 401
    locked = api_login(client, "wrong")
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json"
    body = locked.json()
    assert body["detail"] == "Too many failed logins. Try again in 15 minutes."
    assert body["code"] == "login_locked_out"
    assert locked["Retry-After"] == str(15 * 60)
    refused = api_login(client, "alice-password-1")
    assert refused.status_code == 429
    assert "access" not in refused.json()


@needs_token_api
def test_it_counts_web_and_api_failures_together(client, agent):
    for _ in range(LIMIT - 1):
        web_login(client, "wrong")
    assert api_login(client, "wrong").status_code == 429
    assert web_login(client, "alice-password-1").status_code == 429


@needs_token_api
def test_it_still_gives_tokens_to_other_users(client, agent, outsider):
    for _ in range(LIMIT):
        api_login(client, "wrong")
    assert "access" in api_login(client, "charlie-password-1", username="charlie").json()


def test_it_counts_the_address_the_client_connected_from():
    request = RequestFactory().get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(request) == "10.9.9.9"  # no proxy: a client-written header is ignored


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_it_counts_the_address_the_proxy_saw_behind_the_tls_proxy():
    factory = RequestFactory()
    forged = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert client_ip(forged) == "203.0.113.7"  # only the hop our proxy appended is trusted
    garbage = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="not-an-address")
    assert client_ip(garbage) == "10.0.0.1"
