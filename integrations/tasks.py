"""Celery tasks: short interfaces over the services. Each area keeps its own headed section."""

from celery import shared_task

# --- SharePoint backup (integrations.sharepoint_backup) --------------------------------------


# Eight retries back off from 30 s to an hour (retry_delay): about four hours in all.
# Queue "sharepoint" through settings.CELERY_TASK_ROUTES (Celery deprecates queue= here).
@shared_task(bind=True, acks_late=True, max_retries=8)
def sharepoint_backup_task(self, message_id):
    """Back up one message's stored file to SharePoint; temporary failures retry with backoff."""
    from chat.models import Message
    from integrations.sharepoint import SharePointError
    from integrations.sharepoint_backup import message_backup_to_sharepoint, retry_delay, sharepoint_backup_give_up

    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None:
        return "missing"
    try:
        return message_backup_to_sharepoint(message=message)
    except SharePointError as error:  # only temporary failures get here
        if self.request.retries >= self.max_retries:
            return sharepoint_backup_give_up(message=message, error=error)
        raise self.retry(countdown=retry_delay(error, self.request.retries)) from None


@shared_task(acks_late=True)
def sharepoint_sweep_task():
    """Beat: queue again the backups that seem lost (see sharepoint_backup.sharepoint_sweep)."""
    from integrations.sharepoint_backup import sharepoint_sweep

    return sharepoint_sweep()
