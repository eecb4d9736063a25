import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the first admin when there is no user yet: from DJANGO_SUPERUSER_USERNAME, "
        "DJANGO_SUPERUSER_PASSWORD and DJANGO_SUPERUSER_EMAIL when set, else 'admin' with a "
        "random password printed once."
    )

    def handle(self, *args, **options):

        User = get_user_model()
        if User.objects.exists():
            return
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL") or ""
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email=email, password=password)
        if generated:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created the first admin. Log in as '{username}' with password: {password}\n"
                    "(shown once; change it in the admin)"
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"Created the first admin '{username}'."))
