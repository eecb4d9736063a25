"""A customer's WhatsApp username is kept beside their profile name, for the contact panel."""

import pytest

from chat.models import Conversation

pytestmark = pytest.mark.django_db


def test_it_keeps_a_customers_username_for_the_contact_panel(deliver):
    deliver("username_customer")
    conversation = Conversation.objects.get(wa_user_id="US.13491208655302741918")
    assert conversation.wa_username == "meera.builds"
    assert conversation.contact_name == "Meera"
