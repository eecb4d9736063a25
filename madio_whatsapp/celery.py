import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "madio_whatsapp.settings")

app = Celery("madio_whatsapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
