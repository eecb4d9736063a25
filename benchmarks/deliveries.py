"""Signed webhook deliveries shaped like Meta's, each with a new message id.

One inbound text message per delivery, from a pool of customers, signed with
X-Hub-Signature-256 (HMAC-SHA256 of the exact body bytes under the app secret).
"""

import hashlib
import hmac
import json
import time

PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "15550001234"


def customer(run, index):
    """WhatsApp's digits-only form of a valid Indian mobile number, distinct per run."""
    return f"9198{run % 100:02d}{index:06d}"


def delivery(*, wamid, wa_id, text, timestamp=None):
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": [{"profile": {"name": f"Bench {wa_id[-4:]}"}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": wamid,
                                    "timestamp": str(int(timestamp or time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    # Meta's own serialisation: compact, non-ASCII escaped.
    return json.dumps(body, separators=(",", ":")).encode()


def signature(body, secret):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wamid_prefix(run, label):
    return f"wamid.bench{run}{label}"


def write_pool(path, *, run, label, count, secret, customers=1000):
    """Write `count` signed deliveries, one "signature<TAB>body" per line, for wrk's Lua script."""
    prefix = wamid_prefix(run, label)
    now = int(time.time())
    with open(path, "wb") as out:
        for n in range(count):
            body = delivery(
                wamid=f"{prefix}{n:09d}=", wa_id=customer(run, n % customers), text=f"Bench message {n}", timestamp=now
            )
            out.write(signature(body, secret).encode() + b"\t" + body + b"\n")
    return prefix
