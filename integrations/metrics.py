"""The product's Prometheus metrics, and the one function each area calls to record one.

Web and worker processes all write to PROMETHEUS_MULTIPROC_DIR (prometheus_client's
multiprocess mode, switched on in settings), and /metrics sums every process's
files, so a count made in a Celery worker shows at the web server's /metrics.

Who calls what:
- record_message("inbound", type) when the webhook stores a customer's message;
  record_message("outbound", type) when WhatsApp accepts a send (in the worker).
- record_send_latency(seconds) for queued -> accepted by WhatsApp (in the worker).
- record_webhook_processing(seconds) for one webhook delivery's processing.
- record_sharepoint_upload("uploaded" | "failed" | ...) for each backup attempt.
"""

from prometheus_client import Counter, Histogram

MESSAGES = Counter(
    "whatsapp_messages",
    "WhatsApp messages: inbound as stored from the webhook, outbound as accepted by WhatsApp.",
    ["direction", "type"],
)
SHAREPOINT_UPLOADS = Counter("sharepoint_uploads", "Media backups to SharePoint, by outcome.", ["status"])
SEND_LATENCY = Histogram(
    "whatsapp_send_latency_seconds",
    "Seconds from a message being queued to WhatsApp accepting it.",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
WEBHOOK_PROCESSING = Histogram(
    "whatsapp_webhook_processing_seconds",
    "Seconds spent processing one webhook delivery.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Label values come from our own choices, never from outside input, so the series stay few.
DIRECTIONS = {"inbound", "outbound"}


def record_message(direction, message_type):
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be inbound or outbound, not {direction!r}")
    MESSAGES.labels(direction=direction, type=str(message_type)[:16]).inc()


def record_send_latency(seconds):
    SEND_LATENCY.observe(max(float(seconds), 0.0))


def record_webhook_processing(seconds):
    WEBHOOK_PROCESSING.observe(max(float(seconds), 0.0))


def record_sharepoint_upload(status):
    SHAREPOINT_UPLOADS.labels(status=str(status)[:16]).inc()
