"""JWT tokens, the chat permission, the rate limit and the API docs."""

import io
import os
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from chat.api_throttle import throttle_cache_key
from conftest import _forget_rate_limits, jwt_client_for

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("post", "/api/whatsapp/send-message"),
    ("post", "/api/whatsapp/send-media"),
    ("post", "/api/whatsapp/send-template"),
    ("get", "/api/whatsapp/entity-messages/project/1"),
    ("get", "/api/whatsapp/stats"),
    ("get", "/api/whatsapp/conversations"),
    ("get", "/api/whatsapp/conversations/+919876543210/messages"),
    ("post", "/api/whatsapp/conversations/+919876543210/mark-read"),
    ("post", "/api/whatsapp/conversations/+919876543210/assign"),
    ("post", "/api/whatsapp/conversations/+919876543210/status"),
    ("post", "/api/whatsapp/conversations/+919876543210/mark-unread"),
    ("get", "/api/whatsapp/conversations/+919876543210/notes"),
    ("post", "/api/whatsapp/conversations/+919876543210/notes"),
    ("post", "/api/whatsapp/conversations/+919876543210/labels"),
    ("delete", "/api/whatsapp/conversations/+919876543210/labels"),
    ("post", "/api/whatsapp/conversations/+919876543210/display-name"),
    ("post", "/api/whatsapp/messages/1/links"),
    ("delete", "/api/whatsapp/messages/1/links"),
    ("get", "/api/whatsapp/templates"),
]


def obtain(username, password):
    return APIClient().post("/api/auth/token", {"username": username, "password": password}, format="json")


def bearer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture(autouse=True)
def _fresh_counts():
    _forget_rate_limits()
    yield
    _forget_rate_limits()


def test_it_gives_a_token_pair_that_opens_the_api(agent):
    response = obtain("alice", "alice-password-1")
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    assert bearer(response.json()["access"]).get("/api/whatsapp/templates").status_code == 200


def test_it_refuses_a_wrong_password_with_a_sentence(agent):
    response = obtain("alice", "wrong")
    assert response.status_code == 401
    assert "credentials" in response.json()["message"]


def test_it_names_missing_credentials(db):
    response = APIClient().post("/api/auth/token", {}, format="json")
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"username", "password"}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_it_wants_a_token_on_every_endpoint(method, path):
    response = getattr(APIClient(), method)(path)
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["message"]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_it_refuses_users_without_the_chat_permission_everywhere(outsider, method, path):
    response = getattr(jwt_client_for(outsider), method)(path)
    assert response.status_code == 403
    assert response.json()["message"] == "You need the WhatsApp chat permission."


def test_it_lets_an_access_token_live_30_minutes(agent):
    assert settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] == timedelta(minutes=30)
    young = AccessToken.for_user(agent)
    young.set_exp(from_time=timezone.now() - timedelta(minutes=29))
    expired = AccessToken.for_user(agent)
    expired.set_exp(from_time=timezone.now() - timedelta(minutes=31))
    assert bearer(str(young)).get("/api/whatsapp/templates").status_code == 200
    refused = bearer(str(expired)).get("/api/whatsapp/templates")
    assert refused.status_code == 401
    assert refused.json()["message"] == (
        "The token is not valid: Token is expired. POST /api/auth/token/refresh gives a new access token."
    )


def test_it_refuses_a_tampered_token(agent):
    token = str(AccessToken.for_user(agent))
    response = bearer(token[:-2] + ("AA" if not token.endswith("AA") else "BB")).get("/api/whatsapp/templates")
    assert response.status_code == 401


def test_it_rotates_refresh_tokens_and_refuses_a_used_one(agent):
    first = obtain("alice", "alice-password-1").json()
    rotated = APIClient().post("/api/auth/token/refresh", {"refresh": first["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != first["refresh"]
    assert bearer(rotated.json()["access"]).get("/api/whatsapp/templates").status_code == 200
    reused = APIClient().post("/api/auth/token/refresh", {"refresh": first["refresh"]}, format="json")
    assert reused.status_code == 401
    assert "blacklisted" in reused.json()["message"]


def test_it_blacklists_a_refresh_token_on_logout(agent):
    tokens = obtain("alice", "alice-password-1").json()
    out = APIClient().post("/api/auth/token/blacklist", {"refresh": tokens["refresh"]}, format="json")
    assert out.status_code == 200
    after = APIClient().post("/api/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert after.status_code == 401


def test_it_refuses_an_access_token_as_a_refresh_token(agent):
    tokens = obtain("alice", "alice-password-1").json()
    response = APIClient().post("/api/auth/token/refresh", {"refresh": tokens["access"]}, format="json")
    assert response.status_code == 401


def test_it_limits_each_user_to_100_requests_a_minute_in_the_shared_cache(agent, django_user_model):
    assert settings.API_RATE_LIMIT == "100/min"
    client = jwt_client_for(agent)
    _forget_rate_limits(agent.pk)
    try:
        statuses = [client.get("/api/whatsapp/templates").status_code for _ in range(100)]
        assert statuses == [200] * 100
        over = client.get("/api/whatsapp/templates")
        assert over.status_code == 429
        assert 1 <= int(over["Retry-After"]) <= 60
        assert over.json()["message"].startswith("Too many requests. Try again in")
        # Another user has a count of their own.
        from django.contrib.auth.models import Group

        bob = django_user_model.objects.create_user(username="bob", password="bob-password-1")
        bob.groups.add(Group.objects.get(name="WhatsApp agents"))
        _forget_rate_limits(bob.pk)
        assert jwt_client_for(bob).get("/api/whatsapp/templates").status_code == 200
        if os.environ.get("REDIS_URL"):
            # The count lives in Redis, where every web process sees it.
            import redis

            keys = redis.Redis.from_url(os.environ["REDIS_URL"]).keys(f"*{throttle_cache_key(agent.pk)}")
            assert len(keys) == 1
    finally:
        _forget_rate_limits(agent.pk)


def test_it_serves_the_schema_and_docs_without_a_cdn(db):
    schema = APIClient().get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for _, path in ENDPOINTS:
        template = (
            path.replace("project/1", "{entity_type}/{entity_id}")
            .replace("+919876543210", "{ref}")
            .replace("/1/", "/{id}/")
        )
        assert template in paths, template
    send = paths["/api/whatsapp/send-message"]["post"]
    assert "202" in send["responses"]
    assert "422" in send["responses"]
    assert send["requestBody"]["content"]["application/json"]["schema"]
    docs = APIClient().get("/docs")
    html = docs.content.decode()
    assert docs.status_code == 200
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


def test_it_documents_every_view_without_a_schema_warning(db):
    # Every view has its extend_schema: drf-spectacular would warn about one it has to guess.
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out, stderr=io.StringIO())
    assert "/api/whatsapp/conversations/{ref}/notes:" in out.getvalue()
