"""Run the local WhatsApp Cloud API simulator, or send it an inbound customer message.

python manage.py whatsapp_simulator --port 8025 --webhook-url http://127.0.0.1:8000/api/whatsapp/webhook
python manage.py whatsapp_simulator --send-inbound text --from +919876543210 --text "Hello"
"""

import os

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from simulator.meta import INBOUND_TYPES
from simulator.server import Simulator


def _default_port():
    return int(os.environ.get("WHATSAPP_SIMULATOR_PORT") or 8025)


class Command(BaseCommand):
    help = "Run a local stand-in for Meta's WhatsApp Cloud API (see simulator/server.py)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=_default_port())
        parser.add_argument(
            "--webhook-url",
            default=os.environ.get("WHATSAPP_SIMULATOR_WEBHOOK_URL")
            or f"http://127.0.0.1:{os.environ.get('MADIO_WEB_PORT') or os.environ.get('PORT') or 8000}"
            "/api/whatsapp/webhook",
            help="Where statuses and inbound messages are delivered.",
        )
        parser.add_argument("--statuses", choices=["realistic", "ordered", "none"], default="realistic")
        parser.add_argument("--status-delay", type=float, default=1.0, help="Seconds between a send's statuses.")
        parser.add_argument("--no-read-receipts", action="store_true", help="Customers never read (no 'read').")
        parser.add_argument("--seed", type=int, default=None, help="Make the realistic status order repeatable.")
        parser.add_argument(
            "--send-inbound",
            choices=INBOUND_TYPES,
            metavar="TYPE",
            help=f"Do not serve: make a running simulator deliver a customer message ({', '.join(INBOUND_TYPES)}).",
        )
        parser.add_argument("--from", dest="sender", default="+919876543210", help="The customer's number.")
        parser.add_argument("--text", default="", help="Text, caption, button title or emoji.")
        parser.add_argument("--name", default="Simulated Customer", help="The customer's profile name.")
        parser.add_argument("--simulator-url", default="", help="A running simulator (default: --host and --port).")

    def handle(self, *args, **options):
        if options["send_inbound"]:
            return self._send_inbound(options)
        simulator = Simulator(
            host=options["host"],
            port=options["port"],
            token=settings.WHATSAPP_ACCESS_TOKEN or "simulator-token",
            app_secret=settings.WHATSAPP_APP_SECRET or "simulator-app-secret",
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID or "100000000000001",
            business_account_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID or "200000000000001",
            webhook_url=options["webhook_url"],
            status_mode=options["statuses"],
            status_delay=options["status_delay"],
            read_receipts=not options["no_read_receipts"],
            seed=options["seed"],
        )
        if not settings.WHATSAPP_APP_SECRET:
            self.stderr.write("WHATSAPP_APP_SECRET is not set: webhook deliveries are signed with a made-up secret.")
        self.stdout.write(f"WhatsApp Cloud API simulator on {simulator.url} (webhook: {options['webhook_url']})")
        self.stdout.flush()
        simulator.serve_forever()

    def _send_inbound(self, options):
        base = options["simulator_url"] or f"http://{options['host']}:{options['port']}"
        payload = {
            "from": options["sender"],
            "type": options["send_inbound"],
            "text": options["text"],
            "name": options["name"],
        }
        try:
            response = requests.post(f"{base.rstrip('/')}/_sim/inbound", json=payload, timeout=10)
        except requests.RequestException as exc:
            raise CommandError(f"No simulator answers at {base}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise CommandError(f"The simulator refused: {response.text[:300]}")
        self.stdout.write(f"Delivered {options['send_inbound']} message {response.json()['id']}")
