"""Forged, expired, misused and revoked JWTs are all refused by the API."""

import base64
import json
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken


def _url(name, *args):
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


pytestmark = pytest.mark.skipif(
    _url("api:conversations") is None or _url("token_refresh") is None, reason="the REST API is not routed yet"
)


def get(client, token):
    return client.get(_url("api:conversations"), HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR="198.51.100.7")


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(user):
    """The claims of a genuine access token for `user`, so only the attacked part differs."""
    return dict(AccessToken.for_user(user).payload)


def test_it_accepts_a_genuine_access_token(client, agent):
    # The control: everything below differs from this in one way only.
    assert get(client, AccessToken.for_user(agent)).status_code == 200
    assert get(client, jwt.encode(claims_of(agent), settings.SECRET_KEY, algorithm="HS256")).status_code == 200


def test_it_refuses_a_token_signed_with_another_key(client, agent):
    forged = jwt.encode(claims_of(agent), "not-the-server-key-" * 4, algorithm="HS256")
    assert get(client, forged).status_code == 401


def test_it_refuses_an_unsigned_token_with_alg_none(client, agent):
    for alg in ("none", "None", "NONE"):
        forged = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims_of(agent))}."
        assert get(client, forged).status_code == 401, alg


def test_it_refuses_another_algorithm_even_with_the_right_key(client, agent):
    for alg in ("HS384", "HS512"):
        switched = jwt.encode(claims_of(agent), settings.SECRET_KEY, algorithm=alg)
        assert get(client, switched).status_code == 401, alg


def test_it_refuses_an_expired_token(client, agent):
    token = AccessToken.for_user(agent)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=30))
    response = get(client, token)
    assert response.status_code == 401
    assert "expired" in response.content.decode().lower()


def test_it_refuses_a_token_with_its_claims_changed(client, agent, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="root-password-1")
    genuine = str(AccessToken.for_user(agent))
    header, _, signature = genuine.split(".")
    tampered = f"{header}.{b64({**claims_of(agent), 'user_id': str(admin.pk)})}.{signature}"
    assert get(client, tampered).status_code == 401


def test_it_refuses_a_refresh_token_used_as_an_access_token(client, agent):
    assert get(client, RefreshToken.for_user(agent)).status_code == 401


def test_it_refuses_a_blacklisted_refresh_token(client, agent):
    refresh = RefreshToken.for_user(agent)
    url = _url("token_refresh")
    assert client.post(url, {"refresh": str(refresh)}, content_type="application/json").status_code == 200
    # Rotation blacklisted it when it was used; logging out would have done the same.
    again = client.post(url, {"refresh": str(refresh)}, content_type="application/json")
    assert again.status_code == 401
    assert "access" not in again.json()


def test_it_refuses_a_refresh_token_after_logout(client, agent):
    refresh = str(RefreshToken.for_user(agent))
    logout = client.post(_url("token_blacklist"), {"refresh": refresh}, content_type="application/json")
    assert logout.status_code == 200
    again = client.post(_url("token_refresh"), {"refresh": refresh}, content_type="application/json")
    assert again.status_code == 401


def test_it_refuses_the_token_of_a_deactivated_user(client, agent):
    token = AccessToken.for_user(agent)
    agent.is_active = False
    agent.save()
    assert get(client, token).status_code == 401


def test_it_refuses_garbage_in_the_authorization_header(client, agent):
    for junk in ("", "x", "a.b.c", "Bearer", "\x00", "é" * 5000):
        response = get(client, junk)
        assert response.status_code in {401, 403}, repr(junk[:10])
