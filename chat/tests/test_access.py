"""The chat permission is cached between requests, and changes to it still apply.

chat.access keeps each user's answer for CHAT_PERMISSION_CACHE_SECONDS. Changes made
through Django forget it at once; anything else waits at most that long.
"""

from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessions
from django.core.cache import cache
from django.urls import reverse

from chat import access
from chat.tests.conftest import make_conversation
from conftest import agents_group

PAGE = reverse("chat:page")


def use_chat():
    return Permission.objects.get(content_type__app_label="chat", codename="use_chat")


def test_it_reads_groups_and_permissions_once_and_then_trusts_the_cache(agent_client, django_assert_num_queries):
    # the user, two for has_perm, the sidebar (rows, counts, mentions, teams, notifications), the bell
    with django_assert_num_queries(10):
        assert agent_client.get(PAGE).status_code == 200
    with django_assert_num_queries(8):  # the user, the sidebar and its label filters, the bell
        assert agent_client.get(PAGE).status_code == 200


def test_it_refuses_at_once_an_agent_taken_out_of_the_group(agent_client, agent):
    assert agent_client.get(PAGE).status_code == 200
    agent.groups.remove(agents_group())
    assert agent_client.get(PAGE).status_code == 403


def test_it_refuses_at_once_when_the_group_loses_the_permission(agent_client):
    assert agent_client.get(PAGE).status_code == 200
    agents_group().permissions.remove(use_chat())
    assert agent_client.get(PAGE).status_code == 403


def test_it_refuses_at_once_when_the_group_is_emptied_from_its_side(agent_client):
    assert agent_client.get(PAGE).status_code == 200
    agents_group().user_set.clear()
    assert agent_client.get(PAGE).status_code == 403


def test_it_refuses_at_once_when_the_permission_is_taken_from_every_group(agent_client):
    assert agent_client.get(PAGE).status_code == 200
    use_chat().group_set.clear()
    assert agent_client.get(PAGE).status_code == 403


def test_it_refuses_at_once_when_the_group_is_deleted(agent_client):
    assert agent_client.get(PAGE).status_code == 200
    Group.objects.filter(name="WhatsApp agents").delete()
    assert agent_client.get(PAGE).status_code == 403


def test_it_lets_in_at_once_someone_given_the_permission(client, outsider):
    client.force_login(outsider)
    assert client.get(PAGE).status_code == 403
    outsider.user_permissions.add(use_chat())
    assert client.get(PAGE).status_code == 200


def test_it_refuses_at_once_a_superuser_made_ordinary(client, outsider):
    outsider.is_superuser = True
    outsider.save()
    client.force_login(outsider)
    assert client.get(PAGE).status_code == 200
    outsider.is_superuser = False
    outsider.save()
    assert client.get(PAGE).status_code == 403


def test_it_trusts_a_cached_answer_no_longer_than_the_setting(agent_client, agent, settings, monkeypatch):
    lifetimes = {}
    real_set = cache.set

    def recording_set(key, value, timeout=None, **kwargs):
        lifetimes[key] = timeout
        return real_set(key, value, timeout, **kwargs)

    monkeypatch.setattr(cache, "set", recording_set)
    settings.CHAT_PERMISSION_CACHE_SECONDS = 45
    agent_client.get(PAGE)
    assert lifetimes[access._permission_key(agent.pk)] == 45


def test_it_honours_a_change_django_never_saw_once_the_cached_answer_is_gone(agent_client, agent):
    assert agent_client.get(PAGE).status_code == 200
    # As if someone edited the table directly: no signal, so the cached answer stands...
    agent.groups.through.objects.filter(user=agent).delete()
    assert agent_client.get(PAGE).status_code == 200
    # ...until it expires (CHAT_PERMISSION_CACHE_SECONDS), as here, or the cache is lost.
    cache.delete(access._permission_key(agent.pk))
    assert agent_client.get(PAGE).status_code == 403


def test_it_does_not_cache_when_the_setting_is_zero(agent_client, agent, settings):
    settings.CHAT_PERMISSION_CACHE_SECONDS = 0
    assert agent_client.get(PAGE).status_code == 200
    agent.groups.through.objects.filter(user=agent).delete()
    assert agent_client.get(PAGE).status_code == 403


def test_it_never_hands_a_new_user_the_answer_of_a_deleted_one_with_the_same_id(agent, django_user_model):
    assert access.can_use_chat(agent)
    agent_id = agent.pk
    agent.delete()
    newcomer = django_user_model.objects.create_user(username="dave", password="dave-password-1")
    django_user_model.objects.filter(pk=newcomer.pk).update(id=agent_id)
    newcomer = django_user_model.objects.get(pk=agent_id)
    assert not access.can_use_chat(newcomer)


def test_it_keeps_sessions_through_a_cache_flush(agent_client):
    session_key = agent_client.cookies["sessionid"].value
    assert DatabaseSessions().exists(session_key)  # written through to the database
    cache.clear()
    assert agent_client.get(PAGE).status_code == 200


def test_it_reads_the_session_from_the_cache(agent_client, django_assert_num_queries):
    agent_client.get(PAGE)
    with django_assert_num_queries(8) as captured:
        agent_client.get(PAGE)
    assert not [q for q in captured.captured_queries if "django_session" in q["sql"]]


# --- who sees which conversations ----------------------------------------------------------


def _three_conversations(owner, colleague):
    mine = make_conversation(phone="+12025550101", assignee=owner)
    theirs = make_conversation(phone="+12025550102", assignee=colleague)
    nobodys = make_conversation(phone="+12025550103")
    return mine, theirs, nobodys


def test_a_shared_inbox_shows_every_conversation_to_every_agent(agent_client, agent, django_user_model):
    colleague = django_user_model.objects.create_user(username="ravi")
    for chat in _three_conversations(agent, colleague):
        assert agent_client.get(reverse("chat:conversation", args=[chat.pk])).status_code == 200


def test_agents_who_see_their_own_only_see_theirs_and_unassigned_ones(agent_client, agent, settings, django_user_model):
    settings.CHAT_AGENTS_SEE_OWN_ONLY = True
    colleague = django_user_model.objects.create_user(username="ravi")
    mine, theirs, nobodys = _three_conversations(agent, colleague)
    assert agent_client.get(reverse("chat:conversation", args=[mine.pk])).status_code == 200
    assert agent_client.get(reverse("chat:conversation", args=[nobodys.pk])).status_code == 200
    assert agent_client.get(reverse("chat:conversation", args=[theirs.pk])).status_code == 404
    agent.user_permissions.add(Permission.objects.get(codename="see_all_conversations"))
    assert agent_client.get(reverse("chat:conversation", args=[theirs.pk])).status_code == 200
