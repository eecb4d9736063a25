"""The API's rate limit never holds back Meta's webhook deliveries."""

import pytest

from conftest import _forget_rate_limits, jwt_client_for

pytestmark = pytest.mark.django_db


def test_it_limits_the_api_but_never_the_webhook(settings, agent, post_fixture):
    settings.API_RATE_LIMIT = "2/min"
    _forget_rate_limits(agent.pk)
    try:
        api = jwt_client_for(agent)
        statuses = [api.get("/api/whatsapp/templates").status_code for _ in range(3)]
        deliveries = [post_fixture("status_delivered").status_code for _ in range(5)]
        assert statuses == [200, 200, 429]
        assert deliveries == [200] * 5
    finally:
        _forget_rate_limits(agent.pk)
