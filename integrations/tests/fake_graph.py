"""A loopback Microsoft identity platform + Graph drive over real HTTPS, for the SharePoint tests.

It plays what msal and integrations.sharepoint talk to: the tenant's OpenID configuration,
the client-credentials token endpoint, folder creation (409 nameAlreadyExists), simple
PUT uploads, createUploadSession and the uploadUrl (Content-Range checks, 320 KiB
multiples, 202 with nextExpectedRanges, 201 with the driveItem, 416 for a range it has,
404 once expired, and a 401 for any Authorization header). Faults are queued with
fail(), interrupt_chunk(), expire_sessions() and expire_tokens(); hold_chunk() keeps a
chunk waiting so a test can look at the system mid-upload. The certificate comes
from a trustme CA whose PEM is at ca_path (point REQUESTS_CA_BUNDLE at it).
"""

import base64
import contextlib
import json
import secrets
import socket
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import trustme

CHUNK_UNIT = 320 * 1024
WEB_ROOT = "https://contoso.sharepoint.com/sites/madio/Shared%20Documents"


@dataclass
class Hold:
    on_call: int
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def release(self):
        self.released.set()

    def wait(self, seconds=10):
        """Wait for the held chunk to arrive; False if it never did."""
        return self.arrived.wait(seconds)


@dataclass
class Fault:
    kind: str  # token, folder, put, create_session, chunk, status, get_item
    status: int = 503
    headers: dict = field(default_factory=dict)
    code: str = "serviceNotAvailable"
    interrupt: bool = False
    on_call: int = 1  # the how-many-th matching call from now it hits


@dataclass
class Session:
    path: tuple
    behaviour: str
    total: int | None = None
    data: bytearray = field(default_factory=bytearray)
    expired: bool = False


class FakeGraph:
    def __init__(
        self,
        *,
        tenant="tenant-123",
        client_id="client-456",
        secret="s3cret-value",  # noqa: S107 - the fake tenant's own test secret
        site=None,
    ):
        # A new site id for every fake, so no cache entry of another test's fake applies.
        site = site or f"contoso.sharepoint.com,{uuid.uuid4()},{uuid.uuid4()}"
        self.tenant, self.client_id, self.secret, self.site = tenant, client_id, secret, site
        self.lock = threading.Lock()
        self.items = {(): {"id": "root", "name": "root", "folder": {}}}  # path tuple -> driveItem (+ "content")
        self.sessions = {}
        self.tokens = set()
        self.token_requests = 0
        self.discovery_requests = 0
        self.faults = []
        self.holds = []
        self.log = []  # (method, kind, headers, body length, content-range)
        self.auth_on_upload_url = 0
        self.short_commits = 0  # this many next uploads keep a byte less than was sent

    # Test controls -----------------------------------------------------------------

    def fail(self, kind, status=503, *, retry_after=None, code=None, on_call=1):
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        default_codes = {429: "tooManyRequests", 503: "serviceNotAvailable", 507: "quotaLimitReached"}
        code = code or default_codes.get(status, "generalException")
        self.faults.append(Fault(kind, status, headers, code, on_call=on_call))

    def interrupt_chunk(self, number):
        """Cut the connection half way through the number-th chunk PUT from now."""
        self.faults.append(Fault("chunk", interrupt=True, on_call=number))

    def hold_chunk(self, number):
        """Keep the number-th chunk PUT from now waiting (its bytes read, no answer) until the
        returned hold is released. hold.arrived is set once the chunk is in."""
        hold = Hold(number)
        self.holds.append(hold)
        return hold

    def expire_sessions(self):
        for session in self.sessions.values():
            session.expired = True

    def expire_tokens(self):
        self.tokens.clear()

    def add_file(self, path, content):
        self.items[tuple(path)] = {"id": uuid.uuid4().hex, "name": path[-1], "size": len(content), "file": {}}
        self.items[tuple(path)]["content"] = bytes(content)

    def content(self, path):
        return self.items[tuple(path)]["content"]

    def calls(self, kind):
        return [entry for entry in self.log if entry[1] == kind]

    # Serving ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def running(self, tmp_path):
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_path = str(tmp_path / "fake-graph-ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        server.fake = self
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    def _fault(self, kind):
        with self.lock:
            for fault in self.faults:
                if fault.kind == kind:
                    fault.on_call -= 1
                    if fault.on_call == 0:
                        self.faults.remove(fault)
                        return fault
                    break
        return None

    def _item_json(self, path):
        item = self.items[path]
        return {k: v for k, v in item.items() if k != "content"}

    def _store(self, path, content):
        if self.short_commits:
            self.short_commits -= 1
            content = content[:-1]
        name = path[-1]
        self.items[path] = {
            "id": uuid.uuid4().hex.upper(),
            "name": name,
            "size": len(content),
            "webUrl": f"{WEB_ROOT}/{'/'.join(quote(p) for p in path)}",
            "file": {"mimeType": "application/octet-stream"},
            "parentReference": {"path": "/drive/root:/" + "/".join(path[:-1])},
            "content": content,
        }
        return path

    def _free_path(self, path, behaviour):
        """Where a new file goes under conflictBehavior, or None for a 409."""
        if path not in self.items or behaviour == "replace":
            return path
        if behaviour != "rename":
            return None
        stem, dot, ext = path[-1].rpartition(".")
        stem, ext = (stem, dot + ext) if dot else (path[-1], "")
        number = 1
        while (*path[:-1], f"{stem} {number}{ext}") in self.items:
            number += 1
        return (*path[:-1], f"{stem} {number}{ext}")


def _error(code, message):
    return {"error": {"code": code, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    @property
    def fake(self):
        return self.server.fake

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_PUT(self):
        self._route("PUT")

    def do_DELETE(self):
        self._route("DELETE")

    def _send(self, status, body=None, headers=None):
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _fault_answer(self, fault):
        self._body()
        self._send(fault.status, _error(fault.code, "Injected fault"), fault.headers)

    def _route(self, method):
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query)
        fake = self.fake
        if path == f"/{fake.tenant}/v2.0/.well-known/openid-configuration" and method == "GET":
            fake.discovery_requests += 1
            base = f"{fake.url}/{fake.tenant}"
            return self._send(
                200,
                {
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "issuer": f"{base}/v2.0",
                },
            )
        if path == f"/{fake.tenant}/oauth2/v2.0/token" and method == "POST":
            return self._token()
        if path.startswith("/upload/"):
            return self._upload_url(method, path.removeprefix("/upload/"))
        prefix = "/v1.0/sites/"
        if path.startswith(prefix):
            site, _, rest = path[len(prefix) :].partition("/drive")
            return self._drive(method, unquote(site), rest, query)
        self._body()
        self._send(404, _error("itemNotFound", "No such endpoint"))

    # Identity ------------------------------------------------------------------------------

    def _token(self):
        fake = self.fake
        form = {k: v[0] for k, v in parse_qs(self._body().decode()).items()}
        fake.token_requests += 1
        fault = fake._fault("token")
        if fault:
            return self._send(fault.status, {"error": fault.code, "error_description": "Injected fault"}, fault.headers)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = self.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            client_id, secret = unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("scope") != "https://graph.microsoft.com/.default"
        ):
            return self._send(400, {"error": "invalid_request", "error_description": "AADSTS900144: bad request"})
        if client_id != fake.client_id or secret != fake.secret:
            return self._send(
                401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
            )
        token = secrets.token_urlsafe(24)
        fake.tokens.add(token)
        self._send(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})

    # Drive -------------------------------------------------------------------------------------

    def _drive(self, method, site, rest, query):
        fake = self.fake
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in fake.tokens:
            self._body()
            fake.log.append((method, "unauthorized", dict(self.headers), 0, None))
            return self._send(
                401,
                _error("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
                {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired_token"'},
            )
        if site != fake.site:
            self._body()
            return self._send(404, _error("itemNotFound", "Item not found"))
        if rest == "/root/children":
            item_path, action = (), "children"
        elif rest.startswith("/root:/"):
            inner = rest.removeprefix("/root:/")
            raw, sep, action = inner.rpartition(":/")
            if not sep:
                raw, action = inner.rstrip(":"), ""
            item_path = tuple(unquote(p) for p in raw.split("/"))
        else:
            self._body()
            return self._send(400, _error("invalidRequest", "Unsupported drive address"))
        kind = {
            ("POST", "children"): "folder",
            ("PUT", "content"): "put",
            ("POST", "createUploadSession"): "create_session",
            ("GET", ""): "get_item",
        }.get((method, action))
        if kind is None:
            self._body()
            return self._send(400, _error("invalidRequest", "Unsupported drive call"))
        fault = fake._fault(kind)
        fake.log.append((method, kind, dict(self.headers), int(self.headers.get("Content-Length") or 0), None))
        if fault:
            return self._fault_answer(fault)
        return getattr(self, f"_{kind}")(item_path, query)

    def _parent_ok(self, path):
        parent = self.fake.items.get(tuple(path[:-1]))
        return parent is not None and "folder" in parent

    def _folder(self, parent, query):
        body = json.loads(self._body() or b"{}")
        fake = self.fake
        if parent not in fake.items or "folder" not in fake.items[parent]:
            return self._send(404, _error("itemNotFound", "The parent folder does not exist"))
        path = (*parent, body["name"])
        behaviour = body.get("@microsoft.graph.conflictBehavior", "rename")
        with fake.lock:
            if path in fake.items and behaviour == "fail":
                return self._send(409, _error("nameAlreadyExists", "The specified item name already exists."))
            fake.items[path] = {"id": uuid.uuid4().hex, "name": path[-1], "folder": {"childCount": 0}}
        self._send(201, fake._item_json(path))

    def _put(self, path, query):
        content = self._body()
        fake = self.fake
        if not self._parent_ok(path):
            return self._send(404, _error("itemNotFound", "The parent folder does not exist"))
        behaviour = query.get("@microsoft.graph.conflictBehavior", ["replace"])[0]
        with fake.lock:
            target = fake._free_path(path, behaviour)
            if target is None:
                return self._send(409, _error("nameAlreadyExists", "The specified item name already exists."))
            fake._store(target, content)
        self._send(201, fake._item_json(target))

    def _get_item(self, path, query):
        self._body()
        if path not in self.fake.items:
            return self._send(404, _error("itemNotFound", "Item not found"))
        self._send(200, self.fake._item_json(path))

    def _create_session(self, path, query):
        body = json.loads(self._body() or b"{}")
        fake = self.fake
        item = body.get("item", {})
        if item.get("name", path[-1]) != path[-1]:
            return self._send(400, _error("invalidRequest", "The name does not match the path"))
        if not self._parent_ok(path):
            return self._send(404, _error("itemNotFound", "The parent folder does not exist"))
        behaviour = item.get("@microsoft.graph.conflictBehavior", "fail")
        if behaviour == "fail" and path in fake.items:
            return self._send(409, _error("nameAlreadyExists", "The specified item name already exists."))
        session_id = uuid.uuid4().hex
        fake.sessions[session_id] = Session(path=path, behaviour=behaviour)
        expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._send(
            200,
            {
                "uploadUrl": f"{fake.url}/upload/{session_id}?tempauth={secrets.token_urlsafe(16)}",
                "expirationDateTime": expires,
                "nextExpectedRanges": ["0-"],
            },
        )

    # Upload sessions ------------------------------------------------------------------------

    def _upload_url(self, method, session_id):
        fake = self.fake
        kind = "chunk" if method == "PUT" else "status"
        fake.log.append(
            (
                method,
                kind,
                dict(self.headers),
                int(self.headers.get("Content-Length") or 0),
                self.headers.get("Content-Range"),
            )
        )
        if "Authorization" in self.headers:
            fake.auth_on_upload_url += 1
            self._body()
            return self._send(401, _error("unauthenticated", "Do not send Authorization to an uploadUrl"))
        session = fake.sessions.get(session_id)
        fault = fake._fault(kind)
        if fault and fault.interrupt:
            # Read half the chunk, then drop the connection: Graph keeps none of its bytes.
            self.rfile.read(int(self.headers.get("Content-Length") or 0) // 2)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return None
        if fault:
            return self._fault_answer(fault)
        if session is None or session.expired:
            self._body()
            return self._send(404, _error("itemNotFound", "The upload session was not found"))
        if method == "DELETE":
            del fake.sessions[session_id]
            return self._send(204)
        if method == "GET":
            return self._send(200, self._progress(session))
        return self._chunk(session_id, session)

    def _progress(self, session):
        return {
            "expirationDateTime": (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "nextExpectedRanges": [f"{len(session.data)}-"],
        }

    def _chunk(self, session_id, session):
        fake = self.fake
        content = self._body()
        for hold in list(fake.holds):
            hold.on_call -= 1
            if hold.on_call == 0:
                fake.holds.remove(hold)
                hold.arrived.set()
                hold.released.wait(30)
        try:
            unit, _, spec = self.headers["Content-Range"].partition(" ")
            span, _, total = spec.partition("/")
            start, _, end = span.partition("-")
            start, end, total = int(start), int(end), int(total)
        except (KeyError, ValueError):
            return self._send(400, _error("invalidRequest", "Missing or bad Content-Range"))
        if unit != "bytes" or end - start + 1 != len(content) or end >= total:
            return self._send(400, _error("invalidRequest", "Content-Range does not match the body"))
        if session.total not in (None, total):
            return self._send(400, _error("invalidRequest", "The total size changed"))
        if end != total - 1 and len(content) % CHUNK_UNIT:
            return self._send(400, _error("invalidRequest", "Chunks must be multiples of 320 KiB"))
        if len(content) >= 60 * 1024 * 1024:
            return self._send(413, _error("invalidRequest", "Chunk too large"))
        if start != len(session.data):
            return self._send(416, _error("invalidRange", "The range is not the one expected"))
        session.total = total
        session.data.extend(content)
        if len(session.data) < total:
            return self._send(202, self._progress(session))
        with fake.lock:
            target = fake._free_path(session.path, session.behaviour)
            if target is None:
                return self._send(409, _error("nameAlreadyExists", "The specified item name already exists."))
            fake._store(target, bytes(session.data))
            del fake.sessions[session_id]
        self._send(201, fake._item_json(target))


def use_fake_graph(fake, settings, monkeypatch):
    """Point the SharePoint settings, and requests' trust store, at a running FakeGraph."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_path)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for variable in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    settings.SHAREPOINT_TENANT_ID = fake.tenant
    settings.SHAREPOINT_CLIENT_ID = fake.client_id
    settings.SHAREPOINT_CLIENT_SECRET = fake.secret
    settings.SHAREPOINT_SITE_ID = fake.site
    settings.SHAREPOINT_AUTHORITY = fake.url
    settings.GRAPH_API_BASE_URL = fake.url
    settings.SHAREPOINT_ENABLED = True
