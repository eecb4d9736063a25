"""The one way the server downloads a URL someone else gave it (server-side request forgery guard).

Used whenever this server itself fetches a customer- or staff-supplied URL, for
example to keep a copy of media sent by link (integrations.tasks.message_fetch_media_task).

- only http and https;
- the host must resolve only to public addresses: loopback, private, link-local
  (169.254.169.254, the cloud metadata service), shared, reserved, multicast and
  unspecified ranges are refused;
- the connection goes to the address that was checked, never to a second DNS
  answer (no DNS-rebinding gap); https still verifies the certificate for the host name;
- each redirect (at most MAX_REDIRECTS) is checked the same way;
- the body is capped in bytes and the whole fetch in time.

check_url(url) validates at request time; fetch(url, max_bytes=...) downloads.
settings.FETCH_ALLOWED_NETWORKS lists networks let through despite the rules (tests only).
"""

import ipaddress
import socket
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings

MAX_REDIRECTS = 3
MAX_URL_LENGTH = 2000
CHUNK = 64 * 1024
USER_AGENT = "MadioWhatsApp/1.0 (media backup)"


class FetchRefused(ValueError):
    """The URL or its answer breaks a rule; retrying will not help. str() is a sentence."""


class FetchFailed(Exception):
    """The fetch did not work this time (network error, timeout, 5xx); it may work later."""


@dataclass
class Fetched:
    file: tempfile.SpooledTemporaryFile
    size: int
    content_type: str
    url: str


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str
    path: str


def _allowed_networks():
    return [ipaddress.ip_network(net, strict=False) for net in getattr(settings, "FETCH_ALLOWED_NETWORKS", [])]


def is_public_address(address):
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _allowed_networks()):
        return True
    return ip.is_global and not (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified
    )


def check_url(url):
    """Return the Target to connect to, or raise FetchRefused with a sentence."""
    if not isinstance(url, str) or not url.strip():
        raise FetchRefused("Enter the address (URL) of the file.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise FetchRefused(f"The address is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchRefused("That is not a valid web address.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchRefused("Only http and https addresses can be fetched.")
    host = parts.hostname
    if not host:
        raise FetchRefused("The address has no host name.")
    if parts.username or parts.password:
        raise FetchRefused("Addresses with a user name or password are not accepted.")
    port = port or (443 if scheme == "https" else 80)
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise FetchRefused(f"The host name '{host[:100]}' could not be resolved.") from None
    addresses = list(dict.fromkeys(answer[4][0] for answer in answers))
    if not addresses:
        raise FetchRefused(f"The host name '{host[:100]}' could not be resolved.")
    # Every answer must be public: a name that also points inward is refused as a whole.
    if not all(is_public_address(address.split("%", 1)[0]) for address in addresses):
        raise FetchRefused("That address points to a private or internal network, which is not allowed.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, address=addresses[0], path=path)


def _pool(target, timeout):
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=getattr(settings, "FETCH_CA_BUNDLE", "") or certifi.where(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False)


def _host_header(target):
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def fetch(url, *, max_bytes, timeout=None):
    """Download url into a temporary file, following the rules above.

    Raises FetchRefused (permanent) or FetchFailed (may work later).
    """
    total = float(timeout or settings.FETCH_TIMEOUT)
    deadline = time.monotonic() + total
    for _ in range(MAX_REDIRECTS + 1):
        target = check_url(url)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchFailed("The download took too long.")
        pool = _pool(target, urllib3.Timeout(connect=min(10.0, remaining), read=min(15.0, remaining)))
        try:
            response = pool.urlopen(
                "GET",
                target.path,
                headers={"Host": _host_header(target), "User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.SSLError:
            raise FetchRefused("The server's https certificate could not be verified.") from None
        except urllib3.exceptions.HTTPError as error:
            pool.close()
            raise FetchFailed(f"Could not connect: {type(error).__name__}.") from None
        try:
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise FetchRefused("The server answered with a redirect but no address.")
                url = urljoin(url, location)
                continue
            if response.status >= 500 or response.status == 429:
                raise FetchFailed(f"The server answered {response.status}.")
            if response.status != 200:
                raise FetchRefused(f"The server answered {response.status} instead of the file.")
            return _read_body(response, url=url, max_bytes=max_bytes, deadline=deadline)
        finally:
            response.release_conn()
            pool.close()
    raise FetchRefused(f"The address redirects more than {MAX_REDIRECTS} times.")


def _read_body(response, *, url, max_bytes, deadline):
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchRefused(f"The file is larger than the {_human(max_bytes)} allowed.")
    body = tempfile.SpooledTemporaryFile(max_size=5 * 1024 * 1024)
    size = 0
    try:
        # read1 returns after one receive, so a server dripping bytes cannot outlast the deadline.
        while chunk := response.read1(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise FetchRefused(f"The file is larger than the {_human(max_bytes)} allowed.")
            if time.monotonic() > deadline:
                raise FetchFailed("The download took too long.")
            body.write(chunk)
    except urllib3.exceptions.HTTPError as error:
        body.close()
        raise FetchFailed(f"The download broke off: {type(error).__name__}.") from None
    except BaseException:
        body.close()
        raise
    body.seek(0)
    content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return Fetched(file=body, size=size, content_type=content_type, url=url)


def _human(size):
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MB"
    return f"{size // 1024} KB"
