"""Every URL the project routes, walked as people who must not see chat data.

The walk reads the URL configuration itself, so a new URL is covered the day it is
added: it either refuses these users or is named in PUBLIC below, with the reason.
"""

import itertools
import re
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import URLResolver, get_resolver, resolve
from django.urls import path as url
from django.urls.exceptions import Resolver404
from django.utils.regex_helper import normalize
from rest_framework.views import APIView

from chat.models import Conversation, Message, MessageTemplate
from conftest import _forget_rate_limits
from integrations.models import WebhookEvent
from links.models import EntityLink

ID = 424242  # every kind of object the tests create has this id, so any <int:...> finds one
PHONE = "+919876543210"
# Values tried for a URL parameter, by name, in order; the first that routes back to the same view wins.
CANDIDATES = {
    "ref": [str(ID)],  # the conversation by its id; a phone or a user id routes to the same views
    "entity_type": ["project"],
    "entity_id": ["42"],
    "app_label": ["chat"],
}
FALLBACK = [str(ID), "chat", "x"]
# Addresses outside METRICS_ALLOWED_IPS and every allowlist: strangers'. Each request takes the
# next, so the API's per-address rate limit never answers instead of the check under test.
STRANGERS = itertools.cycle(f"203.0.113.{n}" for n in range(1, 255))

# URL name -> why it answers people without the chat permission.
PUBLIC = {
    "": "redirects to the chat page, which then refuses",
    "login": "the login page",
    "logout": "logging out",
    "integrations:webhook": "Meta's deliveries, authenticated by their HMAC signature instead",
    "token_obtain": "JWT login, public by nature (and locked out after failures)",
    "token_refresh": "JWT refresh, the refresh token is the credential",
    "token_blacklist": "JWT logout, the refresh token is the credential",
    "health": "which parts are up, nothing else",
    "schema": "describes the API, holds no data",
    "docs": "describes the API, holds no data",
}


@dataclass
class Endpoint:
    name: str
    route: str
    callback: object

    @property
    def is_api(self):
        view_class = getattr(self.callback, "cls", None)
        return isinstance(view_class, type) and issubclass(view_class, APIView)

    @property
    def is_admin(self):
        return self.route.startswith("admin/")

    def __str__(self):
        return f"{self.name or '(unnamed)'} /{self.route}"


def _regex(pattern):
    text = pattern.pattern.regex.pattern
    text = text[1:] if text.startswith("^") else text
    for end in ("\\Z", "$"):
        if text.endswith(end):
            text = text[: -len(end)]
    return text


def endpoints(patterns=None, chain=(), namespace=""):
    """Every URL pattern, recursively, with its full regex and its view."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from endpoints(pattern.url_patterns, (*chain, pattern), inner)
        else:
            name = f"{namespace}{pattern.name}" if pattern.name else namespace.rstrip(":")
            route = "".join(_regex(p) for p in (*chain, pattern))
            yield Endpoint(name=name, route=route, callback=pattern.callback)


def paths(endpoint):
    """Concrete paths that route to this endpoint, filled with the test objects' ids and names."""
    found = []
    for template, params in normalize(endpoint.route):
        choices = [CANDIDATES.get(param, []) + FALLBACK for param in params]
        for values in itertools.product(*choices):
            path = "/" + (template % dict(zip(params, values, strict=True)))
            try:
                match = resolve(path)
            except Resolver404:
                continue
            if match.func == endpoint.callback:
                found.append(path)
                break
    assert found, f"cannot fill the URL parameters of {endpoint}: add a value to CANDIDATES"
    return found


def all_paths():
    return [(endpoint, path) for endpoint in endpoints() for path in paths(endpoint)]


@pytest.fixture
def records(db, agent):
    conversation = Conversation.objects.create(pk=ID, other_party=PHONE, contact_name="Asha")
    message = Message.objects.create(
        pk=ID,
        conversation=conversation,
        direction="inbound",
        message_type="document",
        message_body="secret body",
        whatsapp_message_id="wamid.WALK",
        mime_type="application/pdf",
        file_name="invoice.pdf",
    )
    message.file.save("invoice.pdf", ContentFile(b"%PDF-1.4 secret"), save=True)
    EntityLink.objects.create(pk=ID, message=message, entity_type="project", entity_id="42", created_by=agent)
    MessageTemplate.objects.create(pk=ID, name="order_update", language="en_US", status="APPROVED")
    WebhookEvent.objects.create(pk=ID, body=b"{}")
    return message


METHODS = ("get", "post", "put", "patch", "delete")


def request(client, method, path, **extra):
    extra.setdefault("REMOTE_ADDR", next(STRANGERS))
    if method == "get":
        return client.get(path, **extra)
    if path.startswith("/api/"):
        return getattr(client, method)(path, "{}", content_type="application/json", **extra)
    if method == "post":
        return client.post(path, {}, **extra)
    return getattr(client, method)(path, "", content_type="application/x-www-form-urlencoded", **extra)


def test_it_walks_every_pattern_including_the_chat_pages():
    names = {endpoint.name for endpoint in endpoints()}
    assert "chat:page" in names
    assert "login" in names
    assert "integrations:webhook" in names
    assert {
        "api:conversation_assign",
        "api:conversation_status",
        "api:conversation_mark_unread",
        "api:conversation_notes",
        "api:conversation_labels",
        "api:conversation_display_name",
        "chat:conversation_labels",
        "chat:conversation_label",
        "chat:conversation_contact",
        "chat:conversation_rename",
        "chat:conversation_transcript",
        "chat:conversation_export_csv",
    } <= names
    assert len(all_paths()) > 50  # the admin alone has more


def test_it_names_only_routed_urls_as_public():
    # A typo here would leave the real URL walked and refused; a stale name would only hide nothing.
    assert set(PUBLIC) <= {endpoint.name for endpoint in endpoints()}


def refusal(endpoint, response):
    """Why the response is not a refusal, or None when it is one."""
    status = response.status_code
    if endpoint.is_admin:
        # The admin is for staff; everyone else is sent to its login form (which itself answers).
        if status == 302 and response["Location"].startswith("/admin/login/"):
            return None
        if endpoint.name in {"admin:login", "admin:logout"} and status in {200, 302, 405}:
            return None
        return f"admin answered {status}"
    if status in {403, 405}:
        return None
    if endpoint.is_api and status == 401:  # the API takes JWTs, not the session
        return None
    return f"answered {status}"


def walk_as(client, user, **extra):
    """Every non-public URL, GET and POST, as `user`: the responses that are not refusals."""
    problems = []
    for endpoint, path in all_paths():
        if endpoint.name in PUBLIC:
            continue
        client.force_login(user)  # in case a URL logged the user out
        for method in METHODS:
            response = request(client, method, path, **extra)
            why = refusal(endpoint, response)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            if b"secret body" in body or b"%PDF" in body:
                why = f"showed chat data ({why or response.status_code})"
            if why:
                problems.append(f"{method.upper()} {path} ({endpoint}): {why}")
    return problems


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_it_refuses_every_url_to_a_user_without_the_chat_permission(client, outsider, records, htmx):
    assert walk_as(client, outsider, **({"HTTP_HX_REQUEST": "true"} if htmx else {})) == []


def leaky_view(request, pk):
    return HttpResponse(Message.objects.get(pk=pk).message_body)


urlpatterns = [url("leak/<int:pk>", leaky_view, name="leak"), *get_resolver(settings.ROOT_URLCONF).url_patterns]


def test_it_catches_a_url_that_forgets_the_permission(client, outsider, records):
    with override_settings(ROOT_URLCONF=__name__):
        problems = walk_as(client, outsider)
    assert problems == [
        f"{method.upper()} /leak/{ID} (leak /leak/(?P<pk>[0-9]+)): showed chat data (answered 200)"
        for method in METHODS
    ]


def test_it_refuses_every_api_endpoint_to_a_jwt_without_the_chat_permission(client, outsider, records):
    from rest_framework_simplejwt.tokens import RefreshToken

    token = str(RefreshToken.for_user(outsider).access_token)
    problems = []
    api = [(e, p) for e, p in all_paths() if e.is_api and e.name not in PUBLIC]
    for endpoint, path in api:
        for method in METHODS:
            response = request(client, method, path, HTTP_AUTHORIZATION=f"Bearer {token}")
            if response.status_code not in {403, 405}:
                problems.append(f"{method.upper()} {path} ({endpoint}): answered {response.status_code}")
    _forget_rate_limits(outsider.pk)  # a later test's user may get this pk again
    assert problems == []


def test_it_sends_strangers_to_the_login_page(client, records):
    problems = []
    for endpoint, path in all_paths():
        if endpoint.name in PUBLIC or endpoint.is_admin:
            continue
        for method in METHODS:
            response = request(client, method, path)
            status = response.status_code
            to_login = status == 302 and response["Location"].startswith("/accounts/login/")
            if not (to_login or status in {401, 403, 405}):
                problems.append(f"{method.upper()} {path} ({endpoint}): answered {status}")
    assert problems == []


def test_it_allows_no_csrf_exemption_but_the_webhook_and_the_token_api():
    exempt = {str(e) for e in endpoints() if getattr(e.callback, "csrf_exempt", False) and not e.is_api}
    assert exempt == {"integrations:webhook /api/whatsapp/webhook"}


def test_it_refuses_every_page_write_without_the_csrf_token(agent, records):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    problems = []
    for endpoint, path in all_paths():
        if endpoint.is_api or endpoint.name == "integrations:webhook":
            continue
        for method in METHODS[1:]:
            response = request(client, method, path, HTTP_HX_REQUEST="true")
            if response.status_code != 403 or b"CSRF" not in response.content:
                problems.append(f"{method.upper()} {path} ({endpoint}): answered {response.status_code}")
    assert problems == []


def test_it_gives_htmx_the_csrf_token_on_every_page(agent_client, records):
    body = agent_client.get("/whatsapp-chat").content.decode()
    token = re.search(r"""hx-headers='\{"x-csrftoken": "([^"]+)"\}'""", body)
    assert token
    assert len(token.group(1)) >= 32


def test_it_never_serves_media_from_a_public_path(admin_client, records):
    stored = records.file.name
    assert (settings.MEDIA_ROOT / stored).read_bytes().startswith(b"%PDF")
    for prefix in ("/media/", settings.MEDIA_URL, "/static/", "/"):
        assert admin_client.get(prefix + stored).status_code == 404, prefix
    for prefix in ("/media/", settings.MEDIA_URL):
        with pytest.raises(Resolver404):
            resolve(prefix + stored)
