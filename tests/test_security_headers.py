"""Security headers and cookies: a strict Content-Security-Policy, framing, referrer, HTTPS in production."""

import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent


def policy(response):
    """{directive: [sources]} from the Content-Security-Policy header."""
    header = response["Content-Security-Policy"]
    parts = [part.split() for part in header.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


class InlineCode(HTMLParser):
    """Collects everything in a page that a policy without 'unsafe-inline' would block."""

    def __init__(self):
        super().__init__()
        self.found = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self._in_script = True
            if "src" not in attrs:
                self.found.append("inline <script>")
        if tag == "style":
            self.found.append("inline <style>")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.found.append(f"{name}= handler on <{tag}>")
            if name == "style":
                self.found.append(f"style= attribute on <{tag}>")
            if name.startswith("hx-on"):
                self.found.append(f"{name} (htmx eval) on <{tag}>")
            if value and re.match(r"\s*javascript:", value, re.IGNORECASE):
                self.found.append(f"javascript: URL on <{tag}>")


def inline_code(html):
    parser = InlineCode()
    parser.feed(html)
    return parser.found


@pytest.mark.django_db
def test_it_sends_a_policy_that_allows_no_inline_script_eval_or_other_site(client):
    directives = policy(client.get(reverse("login")))
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'self'"]
    everything = " ".join(" ".join(sources) for sources in directives.values())
    assert "unsafe-inline" not in everything
    assert "unsafe-eval" not in everything
    assert "*" not in everything
    assert "http" not in everything  # no other site, not even over https


@pytest.mark.django_db
def test_it_sends_the_policy_on_the_chat_page_and_on_errors(agent_client, client, outsider):
    assert "script-src 'self'" in agent_client.get(reverse("chat:page"))["Content-Security-Policy"]
    client.force_login(outsider)
    refused = client.get(reverse("chat:page"))
    assert refused.status_code == 403
    assert "script-src 'self'" in refused["Content-Security-Policy"]


@pytest.mark.django_db
def test_it_keeps_inline_code_out_of_the_login_and_chat_pages(client, agent_client):
    assert inline_code(client.get(reverse("login")).content.decode()) == []
    assert inline_code(agent_client.get(reverse("chat:page")).content.decode()) == []


def test_it_finds_inline_code_when_there_is_some():
    html = (
        '<script>alert(1)</script><style>b{}</style><a href=" JavaScript:x" onclick="y" style="z">'
        '<div hx-on:click="x"></div>'
    )
    assert len(inline_code(html)) == 6


@pytest.mark.django_db
def test_it_tells_htmx_to_need_neither_eval_nor_inline_style(client):
    body = client.get(reverse("login")).content.decode()
    assert """<meta name="htmx-config" content='{"allowEval": false, "includeIndicatorStyles": false}'>""" in body
    # The meta tag must come before htmx reads it when it loads.
    assert body.index('name="htmx-config"') < body.index('<script src="/static/django_htmx/htmx-2')


@pytest.mark.django_db
def test_it_refuses_framing_by_other_sites_and_keeps_the_referrer_home(client):
    response = client.get(reverse("login"))
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_it_sends_hsts_on_https_only(client):
    # The suite runs with DEBUG off, the production default.
    assert client.get(reverse("login"), secure=True)["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains"
    )
    assert "Strict-Transport-Security" not in client.get(reverse("login"))


def test_it_sets_secure_http_only_cookies_at_login(client, agent):
    page = client.get(reverse("login"))
    csrf = page.cookies["csrftoken"]
    assert csrf["httponly"]
    assert csrf["secure"]
    response = client.post(
        reverse("login"), {"username": "alice", "password": "alice-password-1", "csrfmiddlewaretoken": csrf.value}
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"]
    assert session["secure"]
    assert session["samesite"] == "Lax"


def production_env(tmp_path, **extra):
    # Browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; production never has it.
    dropped = {"DATABASE_URL", "REDIS_URL", "DEBUG"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("DJANGO_")}
    clean.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="chat.example.com",
        BEHIND_TLS_PROXY="true",
        DATA_DIR=str(tmp_path),
        **extra,
    )
    return clean


def test_it_passes_the_deployment_checks_with_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_fails_the_deployment_checks_when_https_is_turned_off(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path, SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout
    assert "security.W008" in result.stderr + result.stdout


def test_it_redirects_plain_http_behind_the_tls_proxy(tmp_path):
    code = (
        "import django; django.setup();"
        "from django.test import Client;"
        "c = Client(HTTP_HOST='chat.example.com');"
        "r = c.get('/accounts/login/');"
        "print(r.status_code, r['Location']);"
        "r = c.get('/accounts/login/', HTTP_X_FORWARDED_PROTO='https');"
        "print(r.status_code)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**production_env(tmp_path), "DJANGO_SETTINGS_MODULE": "madio_whatsapp.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["301 https://chat.example.com/accounts/login/", "200"]
