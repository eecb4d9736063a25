"""Recount the statistics' daily rollup (chat.models.MessageDayCount) from the messages.

For after a change of TIME_ZONE (the rollup's days are calendar days there), after rows were
inserted or deleted outside chat.services, or to check the rollup. Run it while the webhook
and the workers are quiet: a message stored during the rebuild may be counted twice or not at all.
"""

import time

from django.core.management.base import BaseCommand

from chat.stats import REBUILD_CHUNK, stats_rebuild


class Command(BaseCommand):
    help = "Recount the daily message statistics (the rollup behind /api/whatsapp/stats) from the messages."

    def add_arguments(self, parser):
        parser.add_argument(
            "--chunk", type=int, default=REBUILD_CHUNK, help=f"Messages per query (default {REBUILD_CHUNK})."
        )

    def handle(self, *args, chunk, **options):
        started = time.monotonic()
        counted = stats_rebuild(chunk=max(1, chunk))
        self.stdout.write(
            f"Counted {counted} messages into the daily statistics in {time.monotonic() - started:.1f} s."
        )
