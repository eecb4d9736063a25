import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, task_prerun
from django.db import close_old_connections

from madio_whatsapp.logging import install as install_log_filter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "madio_whatsapp.settings")

app = Celery("madio_whatsapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery installs its own log handlers in workers; they mask phone numbers too.
after_setup_logger.connect(install_log_filter, weak=False)
after_setup_task_logger.connect(install_log_filter, weak=False)


# Database connections in workers live as in web requests (CONN_MAX_AGE, CONN_HEALTH_CHECKS).
# Celery's Django fixup would otherwise close the connection before and after every task
# (unless CELERY_DB_REUSE_MAX is set, see settings): a new PostgreSQL connection for each
# webhook delivery processed (the profile in benchmarks/FINDINGS.md shows its cost).
@task_prerun.connect(weak=False)
def reuse_database_connections(sender=None, **kwargs):
    if not getattr(sender.request, "is_eager", False):
        close_old_connections()  # only those past CONN_MAX_AGE or unusable


def warm_up_publisher():
    """Import the broker's transport and build the producer pool now, not on the first enqueue.

    Called once per web process (madio_whatsapp.wsgi): the first webhook delivery after a
    deploy would otherwise pay for those imports. No connection is opened, so a broker that
    is down never delays start-up.
    """
    try:
        with app.producer_pool.acquire(block=True) as producer:
            producer.connection.transport  # noqa: B018 - the import is the point
    except Exception as exc:  # start-up must not fail on a warm-up
        logging.getLogger(__name__).warning("Celery publisher not warmed up: %s", type(exc).__name__)
