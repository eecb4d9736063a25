import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "madio_whatsapp.settings")

app = Celery("madio_whatsapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery installs its own log handlers in workers; they mask phone numbers too.
from celery.signals import after_setup_logger, after_setup_task_logger  # noqa: E402

from madio_whatsapp.logging import install as install_log_filter  # noqa: E402

after_setup_logger.connect(install_log_filter, weak=False)
after_setup_task_logger.connect(install_log_filter, weak=False)
