import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


@pytest.mark.django_db
def test_it_creates_the_first_admin_from_djangos_variables(monkeypatch, capsys):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password-9")
    call_command("ensure_admin")
    user = get_user_model().objects.get()
    assert user.username == "ops"
    assert user.is_superuser
    assert user.check_password("a-long-password-9")
    assert "a-long-password-9" not in capsys.readouterr().out


@pytest.mark.django_db
def test_it_prints_a_random_password_once_and_never_again(monkeypatch, capsys):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    call_command("ensure_admin")
    out = capsys.readouterr().out
    password = out.split("password: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    call_command("ensure_admin")
    assert capsys.readouterr().out == ""
    assert get_user_model().objects.count() == 1
