import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_it_asks_anonymous_visitors_to_log_in(client):
    response = client.get(reverse("chat:page"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_it_renders_the_login_page_without_any_cdn(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Madio WhatsApp" in body
    assert "https://" not in body  # htmx and styles are served from this site


def test_it_logs_an_agent_in_to_the_chat(client, agent):
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("chat:page")
    assert client.get(reverse("chat:page")).status_code == 200


def test_it_refuses_the_chat_to_staff_without_the_permission(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("chat:page")).status_code == 403


def test_it_lets_superusers_in(admin_client):
    assert admin_client.get(reverse("chat:page")).status_code == 200
