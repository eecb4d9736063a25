"""The simulator's HTTP handler: routes Meta's endpoints and the /_sim control endpoints to a Simulator."""

import hmac
import html
import json
import logging
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit

from simulator.meta import INBOUND_TYPES, VERSION_RE, MetaError, invalid

logger = logging.getLogger(__name__)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>WhatsApp Cloud API simulator</title>
<style>body{{font:15px system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
label{{display:block;margin:.6rem 0 .2rem}}input,select,textarea{{width:100%;padding:.4rem;font:inherit}}
button{{margin-top:1rem;padding:.5rem 1.2rem;font:inherit}}.note{{color:#555}}
table{{border-collapse:collapse;width:100%;margin-top:1rem}}
td,th{{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}}
</style></head><body>
<h1>WhatsApp Cloud API simulator</h1>
<p class="note">Plays Meta's Cloud API for this app. Webhook: <code>{webhook}</code>. {notice}</p>
<h2>Send a message as a customer</h2>
<form method="post" action="/_sim/inbound">
<label for="from">Customer's number</label><input id="from" name="from" value="{sender}" required>
<label for="name">Customer's name</label><input id="name" name="name" value="Simulated Customer">
<label for="type">Type</label><select id="type" name="type">{options}</select>
<label for="text">Text, caption, button title or emoji</label><textarea id="text" name="text" rows="3"></textarea>
<button type="submit">Send to the app</button></form>
<h2>Last sends the app made</h2>
<table><tr><th>To</th><th>Type</th><th>WhatsApp id</th></tr>{rows}</table>
</body></html>"""


def handler_for(simulator):
    class Handler(BaseHTTPRequestHandler):
        server_version = "WhatsAppSimulator/1.0"
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
            logger.debug("simulator: " + format, *args)

        # --- helpers ---------------------------------------------------------------------

        def _send(self, status, body=b"", content_type="application/json", headers=None):
            if isinstance(body, dict | list):
                body = json.dumps(body).encode()
            elif isinstance(body, str):
                body = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, error):
            headers = {"WWW-Authenticate": "OAuth"} if error.http_status == 401 else {}
            if error.retry_after is not None:
                headers["Retry-After"] = str(error.retry_after)
            self._send(error.http_status, error.body(), headers=headers)

        def _body(self):
            return self._raw

        def _read_body(self):
            # Read the whole body before any answer, so a keep-alive connection stays in step.
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            self._raw = self.rfile.read(length) if length > 0 else b""

        def _json(self):
            raw = self._body()
            try:
                return json.loads(raw or b"{}")
            except ValueError:
                raise invalid("The request body is not valid JSON") from None

        def _authorized(self):
            expected = f"Bearer {simulator.token}"
            given = self.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise MetaError(190, "Invalid OAuth access token - Cannot parse access token", http_status=401)

        def _route(self, method):
            parts = urlsplit(self.path)
            segments = [s for s in parts.path.split("/") if s]
            query = parse_qs(parts.query)
            if segments[:1] == ["_sim"] or not segments:
                return self._control(method, segments[1:], query)
            if not VERSION_RE.match(segments[0]):
                raise MetaError(100, "Unknown path components", http_status=400)
            self._authorized()
            rest = segments[1:]
            if method == "POST" and len(rest) == 2 and rest[1] in ("messages", "media"):
                if rest[0] != simulator.phone_number_id:
                    raise MetaError(
                        100, f"Unsupported post request. Object with ID '{rest[0][:30]}' does not exist", subcode=33
                    )
                if rest[1] == "messages":
                    return self._send(200, simulator.handle_messages(self._json()))
                return self._send(200, simulator.handle_upload(self.headers.get("Content-Type", ""), self._body()))
            if method == "GET" and len(rest) == 2 and rest[1] == "message_templates":
                if rest[0] != simulator.business_account_id:
                    raise MetaError(
                        100, f"Unsupported get request. Object with ID '{rest[0][:30]}' does not exist", subcode=33
                    )
                return self._send(200, simulator.list_templates(query, parts.path))
            if method == "GET" and len(rest) == 1:
                return self._send(200, simulator.media_info(rest[0]))
            raise MetaError(100, "Unsupported request", http_status=400)

        def _control(self, method, segments, query):
            if method == "GET" and not segments:
                return self._page(query)
            if method == "GET" and segments[:1] == ["media"] and len(segments) == 2:
                self._authorized()
                item = simulator.media.get(segments[1])
                if item is None:
                    return self._send(404, b"Not found", "text/plain")
                return self._send(200, item["data"], item["mime_type"])
            if method == "GET" and segments == ["state"]:
                return self._send(200, simulator.state())
            if method == "GET" and segments == ["arrivals"]:
                return self._send(200, simulator.arrival_counts())
            if method == "POST" and segments == ["faults"]:
                options = self._json()
                allowed = {"to", "code", "http_status", "retry_after", "delay", "times", "as_status"}
                return self._send(201, simulator.add_fault(**{k: v for k, v in options.items() if k in allowed}))
            if method == "DELETE" and segments == ["faults"]:
                simulator.clear_faults()
                return self._send(204)
            if method == "POST" and segments == ["config"]:
                simulator.configure(**self._json())
                return self._send(200, {"ok": True})
            if method == "POST" and segments == ["reset"]:
                simulator.reset()
                return self._send(200, {"ok": True})
            if method == "POST" and segments == ["inbound"]:
                return self._inbound()
            return self._send(404, {"error": "unknown simulator path"})

        def _inbound(self):
            is_form = self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
            if is_form:
                fields = {k: v[0] for k, v in parse_qs(self._body().decode("utf-8", "replace")).items()}
            else:
                fields = self._json()
            options = {k: v for k, v in fields.items() if k in ("message_id", "latitude", "longitude")}
            wamid = simulator.inbound_message(
                sender=str(fields.get("from") or ""),
                kind=str(fields.get("type") or "text"),
                text=str(fields.get("text") or ""),
                name=str(fields.get("name") or ""),
                reply_to=fields.get("reply_to") or None,
                **options,
            )
            if is_form:
                return self._send(303, b"", headers={"Location": f"/?{urlencode({'sent': wamid[:24]})}"})
            return self._send(200, {"id": wamid})

        def _page(self, query):
            notice = ""
            if query.get("sent"):
                notice = f"Sent {html.escape(query['sent'][0])}… to the webhook."
            rows = "".join(
                f"<tr><td>{html.escape(s['to'])}</td><td>{html.escape(s['type'])}</td>"
                f"<td><code>{html.escape(s['wamid'][:24])}…</code></td></tr>"
                for s in simulator.state()["sends"][-20:][::-1]
            )
            options = "".join(f'<option value="{t}">{t}</option>' for t in INBOUND_TYPES)
            page = PAGE.format(
                webhook=html.escape(simulator.webhook_url or "(none)"),
                notice=notice,
                sender="+919876543210",
                options=options,
                rows=rows or '<tr><td colspan="3">None yet.</td></tr>',
            )
            return self._send(200, page, "text/html; charset=utf-8")

        def _dispatch(self, method):
            try:
                self._read_body()
                self._route(method)
            except MetaError as error:
                self._error(error)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller stopped waiting (a client timeout): nothing to answer
            except Exception:
                logger.exception("The simulator failed on %s %s", method, urlsplit(self.path).path)
                self._error(MetaError(1, "(#1) An unknown error occurred", http_status=500))

        def do_GET(self):  # noqa: N802 - the stdlib's name
            self._dispatch("GET")

        def do_POST(self):  # noqa: N802
            self._dispatch("POST")

        def do_DELETE(self):  # noqa: N802
            self._dispatch("DELETE")

    return Handler
