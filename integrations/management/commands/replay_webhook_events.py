"""Process stored webhook deliveries again. Safe to run any time: processing is idempotent."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import make_aware

from integrations.inbound import webhook_events_replay


class Command(BaseCommand):
    help = "Process stored webhook events again: the given ids, else the unprocessed ones (or --failed)."

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, help="Event ids to process again")
        parser.add_argument("--failed", action="store_true", help="Events whose processing recorded an error")
        parser.add_argument("--since", help="Only events received from this date or time (ISO 8601)")
        parser.add_argument("--limit", type=int, default=1000, help="At most this many events (default 1000)")

    def handle(self, *args, ids, failed, since, limit, **options):
        since_at = None
        if since:
            since_at = parse_datetime(since)
            if since_at is None and parse_date(since) is not None:
                since_at = parse_datetime(since + "T00:00:00")
            if since_at is None:
                raise CommandError(f"--since is not a date or time: {since!r}")
            if since_at.tzinfo is None:
                since_at = make_aware(since_at)
        count = webhook_events_replay(ids=ids, failed=failed, since=since_at, limit=limit)
        self.stdout.write(f"Processed {count} webhook event(s).")
