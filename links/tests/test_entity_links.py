import pytest
from django.db import IntegrityError, transaction

from chat.models import Message
from chat.services import conversation_get_or_create
from links.models import EntityLink
from links.services import InvalidEntity, entity_link_create, entity_link_delete


@pytest.fixture
def message(db):
    conversation = conversation_get_or_create(phone="+919876543210")
    return Message.objects.create(conversation=conversation, direction="inbound", message_body="invoice attached")


def test_it_links_a_message_once_per_record(message, agent):
    first = entity_link_create(message=message, entity_type="project", entity_id="42", user=agent)
    second = entity_link_create(message=message, entity_type="project", entity_id="42", user=agent)
    assert first.pk == second.pk
    assert EntityLink.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        EntityLink.objects.create(message=message, entity_type="project", entity_id="42")


def test_it_links_one_message_to_several_records(message):
    entity_link_create(message=message, entity_type="project", entity_id="42")
    entity_link_create(message=message, entity_type="lead", entity_id="42")
    assert sorted(EntityLink.objects.values_list("entity_type", flat=True)) == ["lead", "project"]


def test_it_refuses_an_unknown_entity_type_and_names_the_allowed_ones(message):
    with pytest.raises(InvalidEntity, match="project, petty_cash, lead, employee"):
        entity_link_create(message=message, entity_type="invoice", entity_id="1")


def test_it_unlinks(message):
    entity_link_create(message=message, entity_type="employee", entity_id="E-7")
    assert entity_link_delete(message=message, entity_type="employee", entity_id="E-7") is True
    assert entity_link_delete(message=message, entity_type="employee", entity_id="E-7") is False
