"""A local stand-in for Meta's WhatsApp Cloud API, for `make run`, demos and tests.

It plays the endpoints integrations.whatsapp.CloudAPIClient calls, checks request
bodies as Meta does and answers in Meta's shapes, and calls the app's webhook, signed
with the app secret, with the statuses of each send and with inbound customer messages.

    POST /{version}/{phone-number-id}/messages     send, or mark as read
    POST /{version}/{phone-number-id}/media        upload (multipart)
    GET  /{version}/{media-id}                     media info with a download URL
    GET  /_sim/media/{media-id}                    the download (needs the bearer token)
    GET  /{version}/{waba-id}/message_templates    sample templates, paged like Meta

Control (no token; loopback only):

    GET  /                   a page with a form that sends an inbound customer message
    POST /_sim/inbound       the same as JSON: {"from", "type", "text", "name", ...}
    GET  /_sim/state         accepted sends, read receipts, webhook deliveries, faults
    GET  /_sim/arrivals      send requests received per wall-clock second, the busiest second
                             and the busiest one-second span (any start), and the rate
    POST /_sim/faults        {"to"?, "code", "http_status"?, "retry_after"?, "delay"?, "times"?, "as_status"?}
    DELETE /_sim/faults      clear the faults
    POST /_sim/config        {"status_mode", "status_delay", "read_receipts", "webhook_url", "seed"}
    POST /_sim/reset         forget sends, reads, deliveries, faults and arrivals

status_mode: "ordered" sends sent, delivered and read one delivery each, in order;
"realistic" (the default for `make run`) batches some statuses into one delivery,
repeats some, swaps delivered and read, and skips delivered, as Meta does; "none"
sends no statuses.
"""

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import random
import re
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import ThreadingHTTPServer
from urllib.parse import urlencode

import requests

from integrations.templates import TemplateInvalid, template_parameter_counts, template_requirements
from simulator.handler import handler_for
from simulator.meta import (
    CAPTION_TYPES,
    INBOUND_TYPES,
    INTERACTIVE_LIMITS,
    MEDIA_LIMITS,
    MEDIA_TYPES,
    SAMPLE_MEDIA,
    SAMPLE_TEMPLATES,
    SEND_TYPES,
    TITLES,
    TO_RE,
    MetaError,
    arrival_summary,
    digits,
    invalid,
    new_wamid,
)

logger = logging.getLogger(__name__)


def _text_within(value, name, limit, required=False):
    """Meta's check of one text parameter: a string, present when required, at most `limit` characters."""
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"Param {name} is required", code=131008)
    if len(value) > limit:
        raise invalid(f"Param {name} must be at most {limit} characters long")


class Simulator:
    """The Cloud API simulator: start() serves on host:port (0 picks a free port) in a thread."""

    def __init__(
        self,
        *,
        host="127.0.0.1",
        port=0,
        token="simulator-token",  # noqa: S107 - the simulator's own local default
        app_secret="simulator-app-secret",  # noqa: S107
        phone_number_id="100000000000001",
        business_account_id="200000000000001",
        display_phone_number="15550001234",
        webhook_url="",
        status_mode="realistic",
        status_delay=1.0,
        read_receipts=True,
        seed=None,
        clock=time.time,
    ):
        self.token = token
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.business_account_id = business_account_id
        self.display_phone_number = display_phone_number
        self.webhook_url = webhook_url
        self.status_mode = status_mode
        self.status_delay = status_delay
        self.read_receipts = read_receipts
        self.rng = random.Random(seed)
        self.clock = clock  # when send requests arrive (arrivals); tests may give their own
        self.lock = threading.Lock()
        self.sends, self.reads, self.deliveries, self.faults, self.inbound = [], [], [], [], []
        self.arrivals = []  # the arrival time of every send request, accepted or refused
        self.media = {}
        self.templates = [dict(t) for t in SAMPLE_TEMPLATES]
        self._pending, self._sequence = [], itertools.count()
        self._wake = threading.Condition(self.lock)
        self._stopping = False
        self.server = ThreadingHTTPServer((host, port), handler_for(self))
        self.server.daemon_threads = True
        self._threads = []

    @property
    def url(self):
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # --- running -------------------------------------------------------------------

    def start(self):
        for target in (self._serve, self._deliver_loop):
            thread = threading.Thread(target=target, daemon=True, name=f"whatsapp-simulator-{target.__name__}")
            thread.start()
            self._threads.append(thread)
        return self

    def _serve(self):
        self.server.serve_forever(poll_interval=0.05)

    def stop(self):
        with self.lock:
            self._stopping = True
            self._wake.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def serve_forever(self):
        self.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # --- state for tests and the control endpoints ------------------------------------

    def state(self):
        with self.lock:
            return {
                "sends": [dict(s) for s in self.sends],
                "reads": list(self.reads),
                "deliveries": [dict(d) for d in self.deliveries],
                "faults": [dict(f) for f in self.faults],
                "inbound": list(self.inbound),
                "pending_deliveries": len(self._pending),
            }

    def arrival_counts(self):
        """Send requests received per second, as arrival_summary counts them."""
        with self.lock:
            times = list(self.arrivals)
        return arrival_summary(times)

    def add_fault(
        self, *, code=None, to=None, http_status=None, retry_after=None, delay=0, times=None, as_status=False
    ):
        """Answer sends (to `to`, or any) with Meta error `code`, slowly (`delay` s), `times` times (None: always)."""
        fault = {
            "to": to,
            "code": code,
            "http_status": http_status,
            "retry_after": retry_after,
            "delay": float(delay or 0),
            "times": times,
            "as_status": bool(as_status),
        }
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self):
        with self.lock:
            self.faults.clear()

    def configure(self, **options):
        with self.lock:
            for key in ("status_mode", "status_delay", "read_receipts", "webhook_url"):
                if key in options:
                    setattr(self, key, options[key])
            if "seed" in options:
                self.rng = random.Random(options["seed"])

    def reset(self):
        with self.lock:
            self.sends.clear()
            self.reads.clear()
            self.deliveries.clear()
            self.faults.clear()
            self.inbound.clear()
            self.arrivals.clear()
            self._pending.clear()

    def _take_fault(self, to):
        with self.lock:
            for fault in self.faults:
                if fault["to"] not in (None, "", to):
                    continue
                if fault["times"] is not None:
                    if fault["times"] <= 0:
                        continue
                    fault["times"] -= 1
                return dict(fault)
        return None

    # --- the Cloud API --------------------------------------------------------------------

    def handle_messages(self, body):
        if not (isinstance(body, dict) and body.get("status") == "read"):  # a send, even one refused
            at = self.clock()
            with self.lock:
                self.arrivals.append(at)
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object")
        if body.get("messaging_product") != "whatsapp":
            raise invalid("The parameter messaging_product is required and must be 'whatsapp'")
        if body.get("status") == "read":
            return self._mark_read(body)
        to = body.get("to")
        if not isinstance(to, str) or not TO_RE.match(to):
            raise invalid("Parameter 'to' must be the full international number, starting with +")
        if body.get("recipient_type", "individual") != "individual":
            raise invalid("recipient_type must be 'individual'")
        kind = body.get("type", "text")
        if kind not in SEND_TYPES:
            raise invalid(f"Parameter 'type' is not valid: {str(kind)[:30]}")
        content = body.get(kind)
        if not isinstance(content, dict) and not (kind == "contacts" and isinstance(content, list)):
            raise invalid(f"Parameter '{kind}' is required and must be an object", code=131008)
        context = body.get("context")
        if context is not None and not (isinstance(context, dict) and isinstance(context.get("message_id"), str)):
            raise invalid("context.message_id must be a message id")
        callback = body.get("biz_opaque_callback_data")
        if callback is not None and (not isinstance(callback, str) or len(callback) > 512):
            raise invalid("biz_opaque_callback_data must be a string of at most 512 characters")
        getattr(self, f"_check_{kind}", self._check_other)(kind, content)
        fault = self._take_fault(to)
        if fault and fault["delay"]:
            time.sleep(fault["delay"])
        if fault and fault["code"] is not None and not fault["as_status"]:
            raise MetaError(fault["code"], http_status=fault["http_status"], retry_after=fault["retry_after"])
        wamid = new_wamid()
        record = {"wamid": wamid, "to": to, "type": kind, "body": body, "at": time.time()}
        with self.lock:
            self.sends.append(record)
        self._schedule_statuses(record, failure=fault if fault and fault["as_status"] else None)
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": digits(to) or to}],
            "messages": [{"id": wamid, "message_status": "accepted"}],
        }

    def _mark_read(self, body):
        message_id = body.get("message_id")
        if not isinstance(message_id, str) or not message_id.startswith("wamid."):
            raise invalid("message_id is not a valid message id", code=131009)
        typing = body.get("typing_indicator")
        if typing is not None and typing != {"type": "text"}:
            raise invalid('typing_indicator must be {"type": "text"}')
        with self.lock:
            self.reads.append({"message_id": message_id, "typing": typing is not None, "at": time.time()})
        return {"success": True}

    def _check_text(self, kind, content):
        text = content.get("body")
        if not isinstance(text, str) or not text.strip():
            raise invalid("Param text['body'] is required", code=131008)
        if len(text) > 4096:
            raise invalid("Param text['body'] must be at most 4096 characters long")
        if "preview_url" in content and not isinstance(content["preview_url"], bool):
            raise invalid("Param text['preview_url'] must be a boolean")

    def _check_media(self, kind, content):
        has_id, has_link = bool(content.get("id")), bool(content.get("link"))
        if has_id == has_link:
            raise invalid(f"Param {kind} needs exactly one of 'id' or 'link'", code=131008)
        if has_id and str(content["id"]) not in self.media:
            raise invalid(f"Media id {str(content['id'])[:30]} was never uploaded", code=131053)
        if has_link and not re.match(r"^https?://[^\s/]+", str(content["link"])):
            raise invalid(f"Param {kind}['link'] must be an http(s) URL")
        if "caption" in content:
            if kind not in CAPTION_TYPES:
                raise invalid(f"A {kind} cannot have a caption")
            if len(str(content["caption"])) > 1024:
                raise invalid(f"Param {kind}['caption'] must be at most 1024 characters long")
        if "filename" in content and kind != "document":
            raise invalid(f"A {kind} cannot have a filename")

    _check_image = _check_video = _check_audio = _check_document = _check_sticker = _check_media

    def _check_template(self, kind, content):
        name, language = content.get("name"), content.get("language")
        if not isinstance(name, str) or not name:
            raise invalid("Param template['name'] is required", code=131008)
        if not isinstance(language, dict) or not isinstance(language.get("code"), str):
            raise invalid("Param template['language']['code'] is required", code=131008)
        template = next(
            (t for t in self.templates if t["name"] == name and t["language"] == language["code"]),
            None,
        )
        if template is None or template["status"] != "APPROVED":
            raise MetaError(132001, details=f"template name ({name[:60]}) does not exist in {language['code'][:10]}")
        components = content.get("components", [])
        if not isinstance(components, list):
            raise invalid("Param template['components'] must be a list")
        try:
            given = template_parameter_counts(components)
        except TemplateInvalid as exc:
            raise invalid(str(exc)) from None
        needs = template_requirements(template["components"])
        for part in ("header", "body"):
            if needs[part] != given[part]:
                raise MetaError(
                    132000,
                    details=f"{part}: number of localizable_params ({given[part]}) does not match "
                    f"the expected number of params ({needs[part]})",
                )
        if needs["buttons"] != {i: n for i, n in given["buttons"].items() if n}:
            raise MetaError(132000, details="button parameters do not match the template's buttons")

    def _check_reaction(self, kind, content):
        if not isinstance(content.get("message_id"), str) or not content["message_id"]:
            raise invalid("Param reaction['message_id'] is required", code=131008)
        emoji = content.get("emoji", "")
        if not isinstance(emoji, str):
            raise invalid("Param reaction['emoji'] must be a string")
        # One emoji (with its modifiers and joiners), or "" to remove the reaction; never words.
        if len(emoji) > 10 or any(ch.isalnum() or ch.isspace() for ch in emoji):
            raise invalid("Param reaction['emoji'] must be a single emoji", code=131009)

    def _check_location(self, kind, content):
        for field in ("latitude", "longitude"):
            if not isinstance(content.get(field), int | float | str):
                raise invalid(f"Param location['{field}'] is required", code=131008)

    def _check_contacts(self, kind, content):
        if not isinstance(content, list) or not content:
            raise invalid("Param contacts must be a non-empty list", code=131008)
        for number, card in enumerate(content):
            name = card.get("name") if isinstance(card, dict) else None
            if not isinstance(name, dict) or not str(name.get("formatted_name") or "").strip():
                raise invalid(f"Param contacts[{number}]['name']['formatted_name'] is required", code=131008)

    def _check_interactive(self, kind, content):
        limits = INTERACTIVE_LIMITS
        kind = content.get("type")
        if kind not in ("button", "list"):
            raise invalid("Param interactive['type'] is required and must be 'button' or 'list'", code=131008)
        body = (content.get("body") or {}).get("text") if isinstance(content.get("body"), dict) else None
        _text_within(body, "interactive['body']['text']", limits["body"], required=True)
        for part in ("header", "footer"):
            if part in content:
                _text_within((content[part] or {}).get("text"), f"interactive['{part}']['text']", limits[part])
        action = content.get("action")
        if not isinstance(action, dict):
            raise invalid("Param interactive['action'] is required", code=131008)
        if kind == "button":
            buttons = action.get("buttons")
            if not isinstance(buttons, list) or not 1 <= len(buttons) <= limits["buttons"]:
                raise invalid(f"Param interactive['action']['buttons'] must have 1 to {limits['buttons']} buttons")
            for n, button in enumerate(buttons):
                reply = button.get("reply") if isinstance(button, dict) else None
                if not isinstance(reply, dict) or button.get("type") != "reply":
                    raise invalid(f"Param interactive['action']['buttons'][{n}] must be a reply button")
                _text_within(reply.get("title"), f"buttons[{n}]['reply']['title']", limits["button_title"], True)
                _text_within(reply.get("id"), f"buttons[{n}]['reply']['id']", limits["button_id"], True)
            return
        _text_within(action.get("button"), "interactive['action']['button']", limits["list_button"], True)
        sections = action.get("sections")
        if not isinstance(sections, list) or not 1 <= len(sections) <= limits["sections"]:
            raise invalid(f"Param interactive['action']['sections'] must have 1 to {limits['sections']} sections")
        rows = 0
        for n, section in enumerate(sections):
            if not isinstance(section, dict) or not isinstance(section.get("rows"), list) or not section["rows"]:
                raise invalid(f"Param sections[{n}]['rows'] is required", code=131008)
            if len(sections) > 1 or "title" in section:
                _text_within(section.get("title"), f"sections[{n}]['title']", limits["section_title"], True)
            for m, row in enumerate(section["rows"]):
                row = row if isinstance(row, dict) else {}
                _text_within(row.get("title"), f"sections[{n}]['rows'][{m}]['title']", limits["row_title"], True)
                _text_within(row.get("id"), f"sections[{n}]['rows'][{m}]['id']", limits["row_id"], True)
                if "description" in row:
                    _text_within(row["description"], f"rows[{m}]['description']", limits["row_description"])
            rows += len(section["rows"])
        if rows > limits["rows"]:
            raise invalid(f"A list has at most {limits['rows']} rows in all sections")

    def _check_other(self, kind, content):
        return

    def handle_upload(self, content_type, raw):
        if not content_type.startswith("multipart/form-data"):
            raise invalid("Upload media as multipart/form-data")
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + raw
        )
        fields, upload = {}, None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename() is not None:
                upload = (part.get_filename(), part.get_content_type(), part.get_payload(decode=True) or b"")
            elif name:
                fields[name] = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
        if fields.get("messaging_product") != "whatsapp":
            raise invalid("The parameter messaging_product is required")
        if upload is None:
            raise invalid("The parameter file is required", code=131008)
        filename, part_type, data = upload
        mime_type = fields.get("type") or part_type
        kind = mime_type.split("/")[0] if mime_type.split("/")[0] in ("image", "video", "audio") else "document"
        if mime_type == "image/webp":
            kind = "sticker"
        if len(data) > MEDIA_LIMITS[kind] * 1024 * 1024:
            raise invalid(f"The {kind} is larger than WhatsApp allows", code=131053)
        if not data:
            raise invalid("The uploaded file is empty", code=131053)
        return {"id": self.store_media(data, mime_type=mime_type, filename=filename)}

    def store_media(self, data, *, mime_type, filename=""):
        media_id = str(self.rng.randrange(10**15, 10**16))
        with self.lock:
            self.media[media_id] = {
                "data": data,
                "mime_type": mime_type,
                "filename": filename,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        return media_id

    def media_info(self, media_id):
        item = self.media.get(media_id)
        if item is None:
            raise MetaError(
                100,
                f"Unsupported get request. Object with ID '{media_id[:30]}' does not exist",
                subcode=33,
            )
        return {
            "messaging_product": "whatsapp",
            "url": f"{self.url}/_sim/media/{media_id}?{urlencode({'ext': int(time.time()) + 300})}",
            "mime_type": item["mime_type"],
            "sha256": item["sha256"],
            "file_size": len(item["data"]),
            "id": media_id,
        }

    def list_templates(self, query, path):
        limit = max(1, min(int((query.get("limit") or ["25"])[0] or 25), 100))
        start = int((query.get("after") or ["0"])[0] or 0)
        page = self.templates[start : start + limit]
        body = {"data": page, "paging": {"cursors": {"before": str(start), "after": str(start + len(page))}}}
        if start + limit < len(self.templates):
            body["paging"]["next"] = f"{self.url}{path}?{urlencode({'limit': limit, 'after': start + limit})}"
        return body

    # --- webhook deliveries ---------------------------------------------------------------

    def _status(self, record, status, failure=None):
        item = {
            "id": record["wamid"],
            "status": status,
            "timestamp": str(int(time.time())),
            "recipient_id": digits(record["to"]) or record["to"],
        }
        callback = record["body"].get("biz_opaque_callback_data")
        if callback:
            item["biz_opaque_callback_data"] = callback
        if status in ("sent", "delivered", "read"):
            item["pricing"] = {
                "billable": record["type"] == "template",
                "pricing_model": "PMP",
                "category": "utility" if record["type"] == "template" else "service",
                "type": "regular" if record["type"] == "template" else "free_customer_service",
            }
        if failure is not None:
            code = failure["code"]
            item["errors"] = [
                {
                    "code": code,
                    "title": TITLES.get(code, "Error"),
                    "message": TITLES.get(code, "Error"),
                    "error_data": {"details": TITLES.get(code, "Error")},
                }
            ]
        return item

    def _schedule_statuses(self, record, failure=None):
        with self.lock:
            mode, delay, reads, rng = self.status_mode, float(self.status_delay), self.read_receipts, self.rng
            if mode == "none" or not self.webhook_url:
                return
            if failure is not None:
                batches = [[self._status(record, "failed", failure)]]
            else:
                names = ["sent", "delivered"] + (["read"] if reads else [])
                if mode == "realistic":
                    batches = self._shuffle(names, rng)
                else:
                    batches = [[name] for name in names]
                batches = [[self._status(record, name) for name in batch] for batch in batches]
            now = time.time()
            for step, statuses in enumerate(batches, start=1):
                self._push(now + delay * step, self._envelope(statuses=statuses))

    @staticmethod
    def _shuffle(names, rng):
        """Meta's habits: delivered skipped, read before delivered, a status twice, several in one delivery."""
        names = list(names)
        if "read" in names and rng.random() < 0.25:
            names.remove("delivered")
        elif "read" in names and rng.random() < 0.2:
            names[1], names[2] = names[2], names[1]
        if rng.random() < 0.2:
            names.insert(rng.randrange(len(names) + 1), rng.choice(names))
        batches = []
        for name in names:
            if batches and rng.random() < 0.3:
                batches[-1].append(name)
            else:
                batches.append([name])
        return batches

    def _envelope(self, *, statuses=None, messages=None, contacts=None):
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id},
        }
        if contacts:
            value["contacts"] = contacts
        if messages:
            value["messages"] = messages
        if statuses:
            value["statuses"] = statuses
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.business_account_id, "changes": [{"field": "messages", "value": value}]}],
        }

    def _push(self, due, payload):
        # Called with self.lock held.
        heapq.heappush(self._pending, (due, next(self._sequence), payload, 0))
        self._wake.notify_all()

    def _deliver_loop(self):
        while True:
            with self.lock:
                while not self._stopping and (not self._pending or self._pending[0][0] > time.time()):
                    timeout = self._pending[0][0] - time.time() if self._pending else None
                    self._wake.wait(timeout)
                if self._stopping:
                    return
                _, _, payload, tries = heapq.heappop(self._pending)
                url = self.webhook_url
            ok = self.deliver(payload, url=url)
            if not ok and tries < 4:
                with self.lock:
                    heapq.heappush(self._pending, (time.time() + 2**tries, next(self._sequence), payload, tries + 1))

    def sign(self, body):
        return "sha256=" + hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()

    def deliver(self, payload, *, url=None):
        """POST one webhook delivery, signed as Meta signs it. Returns True on a 2xx answer."""
        url = url or self.webhook_url
        body = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": self.sign(body)}
        entry = {"at": time.time(), "payload": payload, "status_code": None, "error": ""}
        try:
            response = requests.post(url, data=body, headers=headers, timeout=(3, 20))
            entry["status_code"] = response.status_code
        except requests.RequestException as exc:
            entry["error"] = type(exc).__name__
        with self.lock:
            self.deliveries.append(entry)
        return entry["status_code"] is not None and 200 <= entry["status_code"] < 300

    # --- inbound customer messages ---------------------------------------------------------

    def inbound_message(self, *, sender, kind="text", text="", name="", reply_to=None, **extra):
        """A customer's message, Meta-shaped; queued for the webhook at once. Returns its wamid."""
        if kind not in INBOUND_TYPES:
            raise invalid(f"Unknown inbound type {str(kind)[:20]}")
        sender = digits(sender)
        if not sender:
            raise invalid("The sender needs a phone number")
        wamid = new_wamid()
        message = {"from": sender, "id": wamid, "timestamp": str(int(time.time())), "type": kind}
        if kind == "text":
            message["text"] = {"body": text or "Hello from the simulator"}
        elif kind in MEDIA_TYPES:
            mime_type, filename, data = SAMPLE_MEDIA[kind]
            media_id = self.store_media(data, mime_type=mime_type, filename=filename)
            media = {"id": media_id, "mime_type": mime_type, "sha256": self.media[media_id]["sha256"]}
            if text and kind in CAPTION_TYPES:
                media["caption"] = text
            if kind == "document":
                media["filename"] = filename
            if kind == "audio":
                media["voice"] = True
                media["mime_type"] = "audio/ogg; codecs=opus"
            if kind == "sticker":
                media["animated"] = False
            message[kind] = media
        elif kind == "location":
            message["location"] = {
                "latitude": float(extra.get("latitude", 19.0760)),
                "longitude": float(extra.get("longitude", 72.8777)),
                "name": text or "Gateway of India",
                "address": "Apollo Bandar, Colaba, Mumbai",
            }
        elif kind == "contacts":
            message["contacts"] = [
                {
                    "name": {"formatted_name": text or "Ravi Kumar", "first_name": "Ravi", "last_name": "Kumar"},
                    "phones": [{"phone": "+91 98765 43211", "wa_id": "919876543211", "type": "CELL"}],
                }
            ]
        elif kind == "interactive":
            chosen = self._interactive_choice(sender, text)
            if chosen is None:
                message["interactive"] = {
                    "type": "button_reply",
                    "button_reply": {"id": "confirm", "title": text or "Confirm"},
                }
            else:  # the customer taps a choice of the last buttons or list sent to them
                message["interactive"], reply_to = chosen[0], reply_to or chosen[1]
        elif kind == "button":
            message["button"] = {"payload": "Reschedule", "text": text or "Reschedule"}
        elif kind == "reaction":
            target = extra.get("message_id") or self._last_send_to(sender)
            if not target:
                raise invalid("A reaction needs a message to react to (send one to this number first)")
            message["reaction"] = {"message_id": target, "emoji": text or "👍"}
        elif kind == "unsupported":
            message["errors"] = [
                {
                    "code": 131051,
                    "title": "Message type unknown",
                    "message": "Message type unknown",
                    "error_data": {"details": "Message type is currently not supported."},
                }
            ]
        if reply_to:
            message["context"] = {"from": self.display_phone_number, "id": reply_to}
        contacts = [{"profile": {"name": name or "Simulated Customer"}, "wa_id": sender}]
        with self.lock:
            self.inbound.append(wamid)
            self._push(time.time(), self._envelope(messages=[message], contacts=contacts))
        return wamid

    def _interactive_choice(self, sender, text):
        """(Meta's button_reply or list_reply, the wamid it answers) for the newest interactive send to
        `sender`: the choice titled `text`, else the first; None when nothing interactive was sent."""
        with self.lock:
            record = next(
                (r for r in reversed(self.sends) if digits(r["to"]) == sender and r["type"] == "interactive"), None
            )
        if record is None:
            return None
        content = record["body"]["interactive"]
        action = content.get("action") or {}
        if content.get("type") == "button":
            choices, kind = [b["reply"] for b in action.get("buttons") or []], "button_reply"
        else:
            choices = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
            kind = "list_reply"
        if not choices:
            return None
        choice = next((c for c in choices if text and c.get("title") == text), choices[0])
        reply = {key: choice[key] for key in ("id", "title", "description") if key in choice}
        return {"type": kind, kind: reply}, record["wamid"]

    def _last_send_to(self, sender):
        with self.lock:
            for record in reversed(self.sends):
                if digits(record["to"]) == sender:
                    return record["wamid"]
        return None
