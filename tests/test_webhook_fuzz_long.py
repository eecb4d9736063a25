"""The inbound area's webhook fuzz (integrations/tests/test_webhook_properties.py), run ten times longer."""

import pytest
from hypothesis import HealthCheck, given, settings

from integrations.tests import test_webhook_properties as fuzz
from integrations.tests.conftest import webhook_settings  # noqa: F401  (autouse: the app secret and media root)

LONG = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

test_mutated_deliveries_for_longer = pytest.mark.slow(
    pytest.mark.django_db(
        LONG(
            given(body=fuzz.deliveries())(
                fuzz.test_mutated_deliveries_never_500_are_always_stored_and_never_break_processing.hypothesis.inner_test
            )
        )
    )
)
