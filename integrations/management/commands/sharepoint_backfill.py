"""Back up to SharePoint every stored media file that is not there yet (for example after turning backup on)."""

from datetime import datetime, time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from integrations.sharepoint import SharePointError
from integrations.sharepoint_backup import message_backup_to_sharepoint, messages_to_back_up
from integrations.tasks import sharepoint_backup_task


class Command(BaseCommand):
    help = "Upload every media message not yet backed up to SharePoint, oldest first."

    def add_arguments(self, parser):
        parser.add_argument("--since", type=_date, help="only messages from this day on (YYYY-MM-DD)")
        parser.add_argument("--dry-run", action="store_true", help="count what would be uploaded; upload nothing")

    def handle(self, *args, since=None, dry_run=False, **options):
        if not settings.SHAREPOINT_ENABLED:
            raise CommandError(
                "SharePoint backup is off: set SHAREPOINT_TENANT_ID, SHAREPOINT_CLIENT_ID, "
                "SHAREPOINT_CLIENT_SECRET and SHAREPOINT_SITE_ID."
            )
        messages = messages_to_back_up(since=since)
        total = messages.count()
        if dry_run:
            self.stdout.write(f"{total} message{'s' if total != 1 else ''} would be backed up.")
            return

        counts = {}
        for done, message in enumerate(messages.iterator(chunk_size=200), start=1):
            try:
                outcome = message_backup_to_sharepoint(message=message)
            except SharePointError:
                # Temporary (throttling, an outage): the task retries it with backoff.
                sharepoint_backup_task.delay(message.pk)
                outcome = "queued to retry"
            counts[outcome] = counts.get(outcome, 0) + 1
            self._progress(done, total)
        if total:
            self.stdout.write("")
        summary = ", ".join(f"{count} {outcome.replace('_', ' ')}" for outcome, count in sorted(counts.items()))
        self.stdout.write(f"Done: {summary or 'nothing to back up'}.")

    def _progress(self, done, total, width=30):
        filled = width * done // max(total, 1)
        self.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending="")
        self.stdout.flush()


def _date(value):
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise ValueError(f"not a date in YYYY-MM-DD form: {value}") from exc
    return timezone.make_aware(datetime.combine(day, time.min))
