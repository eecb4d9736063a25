"""The chat's own Celery tasks (the integrations' are in integrations.tasks)."""

from celery import shared_task


@shared_task(acks_late=True)
def conversations_wake_task():
    """Beat: reopen snoozed conversations whose time has come."""
    from chat.services.inbox import conversations_wake

    return conversations_wake()
