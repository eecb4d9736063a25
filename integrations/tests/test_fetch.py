"""The safe fetcher, against HTTP servers on this machine's own addresses."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from chat.models import Conversation, Message
from integrations.fetch import FetchFailed, FetchRefused, check_url, fetch
from integrations.tasks import message_fetch_media_task
from tests.processes import free_port

PNG = b"\x89PNG\r\n\x1a\n" + b"p" * 1000


class Handler(BaseHTTPRequestHandler):
    routes = {}

    def do_GET(self):
        self.server.hits.append(self.path)
        status, headers, body = self.server.routes.get(self.path, (404, {}, b"no"))
        self.send_response(status)
        for name, value in headers.items():
            if value is not None:
                self.send_header(name, value)
        if "Content-Length" not in headers and body is not None:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server:
    def __init__(self, host):
        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.routes, self.httpd.hits = {}, []
        self.host, self.port = host, self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://{self.host}:{self.port}{path}"

    def route(self, path, status=200, headers=None, body=b""):
        self.httpd.routes[path] = (status, headers or {}, body)

    @property
    def hits(self):
        return self.httpd.hits

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def loopback():
    server = Server("127.0.0.1")
    yield server
    server.close()


@pytest.fixture
def allowed(settings):
    """A server on 127.0.0.2, the one address the fetcher is told to allow (tests only)."""
    settings.FETCH_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    server = Server("127.0.0.2")
    yield server
    server.close()


def private_address():
    """This machine's own non-loopback address (no packet is sent by a UDP connect)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 9))
        except OSError:
            return None
        return probe.getsockname()[0]


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        ("ftp://example.org/x", "Only http and https addresses can be fetched."),
        ("file:///etc/passwd", "Only http and https addresses can be fetched."),
        ("http:///nohost", "The address has no host name."),
        ("http://user:pw@93.184.215.14/", "Addresses with a user name or password are not accepted."),
        ("http://93.184.215.14:99999/", "That is not a valid web address."),
        ("http://169.254.169.254/latest/meta-data/", "private or internal network"),
        ("http://[fd00:ec2::254]/", "private or internal network"),
        ("http://0.0.0.0/", "private or internal network"),
        ("http://100.64.0.1/", "private or internal network"),
        ("http://[::ffff:127.0.0.1]/", "private or internal network"),
        ("http://0x7f000001/", "private or internal network"),
        ("http://localhost/", "private or internal network"),
    ],
)
def test_it_refuses_addresses_it_must_not_fetch(url, sentence):
    with pytest.raises(FetchRefused, match=sentence.replace(".", r"\.")):
        check_url(url)


def test_it_refuses_loopback_without_connecting(loopback):
    loopback.route("/x.png", body=PNG)
    with pytest.raises(FetchRefused, match="private or internal network"):
        fetch(loopback.url("/x.png"), max_bytes=10_000)
    assert loopback.hits == []


def test_it_refuses_this_machines_private_address_without_connecting():
    address = private_address()
    if address is None or address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address")
    server = Server(address)
    try:
        server.route("/x.png", body=PNG)
        with pytest.raises(FetchRefused, match="private or internal network"):
            fetch(server.url("/x.png"), max_bytes=10_000)
        assert server.hits == []
    finally:
        server.close()


def test_it_accepts_a_public_address():
    target = check_url("https://93.184.215.14/catalogue/p.png?size=large")
    assert (target.scheme, target.address, target.port, target.path) == (
        "https",
        "93.184.215.14",
        443,
        "/catalogue/p.png?size=large",
    )


def test_it_downloads_from_an_allowed_address(allowed):
    allowed.route("/p.png", headers={"Content-Type": "image/png; charset=binary"}, body=PNG)
    fetched = fetch(allowed.url("/p.png"), max_bytes=10_000)
    assert fetched.file.read() == PNG
    assert (fetched.size, fetched.content_type) == (len(PNG), "image/png")


def test_it_follows_a_redirect_that_stays_allowed(allowed):
    allowed.route("/old", status=302, headers={"Location": "/p.png"}, body=b"")
    allowed.route("/p.png", body=PNG)
    assert fetch(allowed.url("/old"), max_bytes=10_000).size == len(PNG)
    assert allowed.hits == ["/old", "/p.png"]


def test_it_refuses_a_redirect_to_loopback(allowed, loopback):
    loopback.route("/secret", body=b"internal")
    allowed.route("/jump", status=302, headers={"Location": loopback.url("/secret")}, body=b"")
    with pytest.raises(FetchRefused, match="private or internal network"):
        fetch(allowed.url("/jump"), max_bytes=10_000)
    assert allowed.hits == ["/jump"]
    assert loopback.hits == []


def test_it_stops_after_three_redirects(allowed):
    for n in range(5):
        allowed.route(f"/r{n}", status=301, headers={"Location": f"/r{n + 1}"}, body=b"")
    with pytest.raises(FetchRefused, match="redirects more than 3 times"):
        fetch(allowed.url("/r0"), max_bytes=10_000)
    assert allowed.hits == ["/r0", "/r1", "/r2", "/r3"]


def test_it_refuses_a_declared_size_over_the_cap_before_reading(allowed):
    allowed.route("/big", headers={"Content-Length": "999999"}, body=None)
    with pytest.raises(FetchRefused, match="larger than the 9 KB allowed"):
        fetch(allowed.url("/big"), max_bytes=10_000)


def test_it_stops_reading_an_undeclared_body_at_the_cap(allowed):
    # No Content-Length: the body runs until the server closes the connection.
    allowed.route("/stream", headers={"Connection": "close", "Content-Length": None}, body=b"x" * 50_000)
    with pytest.raises(FetchRefused, match="larger than"):
        fetch(allowed.url("/stream"), max_bytes=10_000)


def test_it_tells_a_server_error_from_a_refusal(allowed):
    allowed.route("/busy", status=503, body=b"busy")
    allowed.route("/gone", status=404, body=b"gone")
    with pytest.raises(FetchFailed):
        fetch(allowed.url("/busy"), max_bytes=10_000)
    with pytest.raises(FetchRefused, match="answered 404"):
        fetch(allowed.url("/gone"), max_bytes=10_000)


def test_it_fails_softly_when_nothing_listens(settings):
    settings.FETCH_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    port = free_port("127.0.0.2")
    with pytest.raises(FetchFailed):
        fetch(f"http://127.0.0.2:{port}/", max_bytes=10)


# --- the task that keeps a copy of media sent by link ----------------------------------------


def linked_message(url, media_type="image"):
    conversation, _ = Conversation.objects.get_or_create(
        other_party="+919876543210", defaults={"last_inbound_at": timezone.now()}
    )
    return Message.objects.create(
        conversation=conversation,
        direction="outbound",
        message_type=media_type,
        data={"link": url},
        media_state="pending",
    )


@pytest.mark.django_db
def test_it_keeps_a_copy_of_media_sent_by_link(allowed, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    allowed.route("/catalogue/p.png", headers={"Content-Type": "image/png"}, body=PNG)
    message = linked_message(allowed.url("/catalogue/p.png"))
    assert message_fetch_media_task(message.pk) == "stored"
    message.refresh_from_db()
    assert (message.media_state, message.file_size, message.mime_type) == ("ready", len(PNG), "image/png")
    assert message.file.read() == PNG
    assert message.sharepoint_state == "disabled"  # handed to the backup, which is not configured here
    assert message_fetch_media_task(message.pk) == "skipped"  # already kept: nothing fetched twice
    assert allowed.hits == ["/catalogue/p.png"]


@pytest.mark.django_db
def test_it_marks_the_copy_failed_when_the_file_breaks_whatsapps_rules(allowed, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    allowed.route("/p.gif", headers={"Content-Type": "image/gif"}, body=b"GIF89a")
    allowed.route("/huge.png", headers={"Content-Type": "image/png"}, body=b"x" * (5 * 1024 * 1024 + 1))
    wrong_type, too_big = linked_message(allowed.url("/p.gif")), linked_message(allowed.url("/huge.png"))
    assert message_fetch_media_task(wrong_type.pk) == "refused"
    assert message_fetch_media_task(too_big.pk) == "refused"
    wrong_type.refresh_from_db()
    too_big.refresh_from_db()
    assert wrong_type.media_state == too_big.media_state == "failed"
    assert "Photos must be JPEG or PNG" in wrong_type.media_error
    assert "5 MB" in too_big.media_error
    assert not wrong_type.file


@pytest.mark.django_db
def test_it_retries_the_copy_when_the_server_is_busy(allowed):
    allowed.route("/p.png", status=503, body=b"busy")
    message = linked_message(allowed.url("/p.png"))
    with pytest.raises(Retry):
        message_fetch_media_task(message.pk)
    message.refresh_from_db()
    assert message.media_state == "pending"


def test_it_gives_up_on_a_server_that_drips_past_the_deadline(settings):
    settings.FETCH_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    listener = socket.socket()
    listener.bind(("127.0.0.2", 0))
    listener.listen(1)
    stop = threading.Event()

    def drip():
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"x")
                except OSError:
                    return
                stop.wait(0.05)

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        with pytest.raises(FetchFailed, match="took too long"):
            fetch(f"http://127.0.0.2:{listener.getsockname()[1]}/", max_bytes=200_000, timeout=1)
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


@pytest.fixture
def https_localhost(settings, tmp_path):
    """An https server for the name 'localhost', on the address the fetcher resolves it to."""
    import ssl

    import trustme

    from integrations.fetch import check_url as resolve

    settings.FETCH_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    address = resolve("https://localhost/").address
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    settings.FETCH_CA_BUNDLE = str(ca_file)

    class Httpd(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET

    httpd = Httpd((address, 0), Handler)
    httpd.routes, httpd.hits = {"/p.png": (200, {}, PNG)}, []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd, ca_file
    httpd.shutdown()
    httpd.server_close()


def test_it_fetches_https_from_the_checked_address_verifying_the_host_name(https_localhost, settings, tmp_path):
    import trustme

    httpd, _ = https_localhost
    url = f"https://localhost:{httpd.server_address[1]}/p.png"
    assert fetch(url, max_bytes=10_000).file.read() == PNG
    # A certificate from a CA the fetcher does not trust is refused.
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    settings.FETCH_CA_BUNDLE = str(other)
    with pytest.raises(FetchRefused, match="certificate could not be verified"):
        fetch(url, max_bytes=10_000)
    assert httpd.hits == ["/p.png"]
