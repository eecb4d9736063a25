"""A loopback server that plays the Cloud API's media endpoints over real HTTP.

GET /{version}/{media-id} answers {url, mime_type, sha256, file_size, id}; the url serves
the bytes, and only to the bearer token. Each media item can be told to misbehave:
expire its first URLs, answer 5xx, or announce a wrong sha256 or size.
"""

import base64
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "test-media-token"
VERSION = "v24.0"


@dataclass
class Media:
    content: bytes
    mime_type: str = "image/jpeg"
    sha256: str = ""  # defaults to base64 of the real digest (Meta's own examples)
    file_size: int | None = None  # defaults to the real size
    expire_first_urls: int = 0  # so many download URLs are dead (404) by the time they are used
    fail_downloads: int = 0  # so many downloads answer 503
    fail_lookups: int = 0  # so many look-ups answer 500
    urls_issued: int = 0
    downloads: list = field(default_factory=list)

    def announced_sha256(self):
        return self.sha256 or base64.b64encode(hashlib.sha256(self.content).digest()).decode()


class GraphMediaServer:
    def __init__(self):
        self.media = {}
        self.requests = []
        self.expired = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", content_type="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status, code, message):
                body = {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}}
                self._send(status, json.dumps(body).encode())

            def do_GET(self):  # noqa: N802 - the http.server API
                server.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._error(401, 190, "Invalid OAuth access token")
                parts = self.path.split("?", 1)[0].strip("/").split("/")
                if len(parts) == 2 and parts[0] == VERSION:
                    return self._lookup(parts[1])
                if len(parts) == 3 and parts[0] == "download":
                    return self._download(parts[1], parts[2])
                return self._error(404, 100, "Unknown path")

            def _lookup(self, media_id):
                item = server.media.get(media_id)
                if item is None:
                    return self._error(404, 100, "Unsupported get request. Object does not exist")
                if item.fail_lookups:
                    item.fail_lookups -= 1
                    return self._error(500, 1, "An unknown error occurred")
                item.urls_issued += 1
                nonce = uuid.uuid4().hex
                if item.urls_issued <= item.expire_first_urls:
                    server.expired.add(nonce)
                host, port = self.server.server_address[:2]
                body = {
                    "messaging_product": "whatsapp",
                    "url": f"http://{host}:{port}/download/{media_id}/{nonce}",
                    "mime_type": item.mime_type,
                    "sha256": item.announced_sha256(),
                    "file_size": item.file_size if item.file_size is not None else len(item.content),
                    "id": media_id,
                }
                self._send(200, json.dumps(body).encode())

            def _download(self, media_id, nonce):
                item = server.media.get(media_id)
                if item is None or nonce in server.expired:
                    return self._send(404, b"URL signature expired", "text/plain")
                if item.fail_downloads:
                    item.fail_downloads -= 1
                    return self._send(503, b"Service Unavailable", "text/plain")
                item.downloads.append(nonce)
                self._send(200, item.content, item.mime_type)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def add(self, media_id, content, **options):
        self.media[media_id] = Media(content=content, **options)
        return self.media[media_id]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
