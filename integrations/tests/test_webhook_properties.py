"""Property: whatever a signed delivery holds, the endpoint never answers 500, the raw
event is always stored, and processing never raises out of the task."""

import copy
import json
import re

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.inbound import process_webhook_event
from integrations.models import WebhookEvent
from integrations.tests.conftest import fixture_names, load_fixture, post_body

CRASH = re.compile(r"^(Unexpected \w+|entry\[\d+\]\S*: \w+):")
FIXTURES = [load_fixture(name) for name in fixture_names()]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "0", "\x00", "\ud800", "text", "image", "reaction", "read", "failed", "1764140000"])
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=8,
)


def _slots(node, found):
    """Every (container, key) in a JSON document, so a mutation can pick any of them."""
    if isinstance(node, dict):
        for key, child in node.items():
            found.append((node, key))
            _slots(child, found)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found.append((node, index))
            _slots(child, found)
    return found


@st.composite
def deliveries(draw):
    document = copy.deepcopy(draw(st.sampled_from(FIXTURES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        slots = _slots(document, [])
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["replace", "delete", "copy"]))
        if action == "replace":
            container[key] = draw(json_values)
        elif action == "delete":
            del container[key]
        else:  # the same object twice (a duplicate message, status or entry)
            if isinstance(container, list):
                container.append(copy.deepcopy(container[key]))
        if not slots or not _slots(document, []):
            break
    body = json.dumps(document, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        cut = draw(st.integers(min_value=0, max_value=len(body)))
        body = body[:cut] + draw(st.binary(max_size=8))  # broken JSON, stray bytes
    return body


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=deliveries())
def test_mutated_deliveries_never_500_are_always_stored_and_never_break_processing(body):
    before = WebhookEvent.objects.count()
    response = post_body(Client(), body)
    assert response.status_code == 200
    assert WebhookEvent.objects.count() == before + 1
    event = WebhookEvent.objects.latest("pk")
    assert bytes(event.body) == body
    process_webhook_event(event.pk)  # must not raise
    event.refresh_from_db()
    assert event.processed_at is not None
    # Bad input is reported as such; an exception caught on the way would be a bug.
    crashes = [line for line in event.processing_error.splitlines() if CRASH.match(line)]
    assert crashes == []
