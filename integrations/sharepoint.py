"""Microsoft Graph client for the SharePoint media backup (app-only, client credentials).

One GraphClient per worker process, built lazily from settings by sharepoint_client(); it
signs in with msal (which caches the token), creates folders, and uploads a file by a
simple PUT (up to 4 MiB) or an upload session in 10 MiB chunks that resumes where Graph
says it stopped. Every failure is a SharePointError that says whether a retry can help.
Facts behind the choices: ../shared/research/sharepoint-graph.md.

Knows nothing about messages: integrations.sharepoint_backup decides what goes where.
"""

import hashlib
import logging
import re
import threading
import unicodedata
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

import msal
import msal.authority
import msal.exceptions
import requests
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

GRAPH_SCOPES = ["https://graph.microsoft.com/.default"]
# SharePoint asks for NONISV|Company|App/Version so throttling can tell callers apart.
USER_AGENT = "NONISV|Madio|MadioWhatsApp/1.0"
TIMEOUT = (10, 120)  # connect, read (seconds)
SIMPLE_UPLOAD_MAX = 4 * 1024 * 1024
# Every chunk but the last must be a multiple of 320 KiB; 10 MiB is Graph's recommended size.
CHUNK_UNIT = 320 * 1024
CHUNK_SIZE = 32 * CHUNK_UNIT
FOLDER_CACHE_SECONDS = 24 * 3600
# Graph statuses worth another try later; 507 (quota) and other 4xx are not.
RETRYABLE_STATUSES = {408, 423, 429, 500, 502, 503, 504, 509}
# msal's error values that are the identity platform's fault, not our configuration's.
RETRYABLE_TOKEN_ERRORS = {"temporarily_unavailable", "server_error"}
MAX_RETRY_AFTER = 3600


class SharePointError(Exception):
    """A failed Graph or sign-in call. retryable says whether trying again later can help;
    retry_after is the server's Retry-After in seconds, when it gave one."""

    def __init__(self, message, *, retryable, retry_after=None, status=None, code=""):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.code = code


class _SessionGone(Exception):
    """The upload session expired or vanished (404): start the upload over."""


class _Interrupted(Exception):
    """A chunk's connection broke: Graph ignores its bytes; ask where to go on."""


class _NameTaken(Exception):
    """409 nameAlreadyExists with conflictBehavior=fail."""


# --- Safe names -----------------------------------------------------------------

# SharePoint Online forbids " * : < > ? / \ | and control characters; # and % are allowed
# there but break links in older clients, so they go too.
# Also invisible and direction-changing characters, so "\u202egpj.exe" cannot pass for "exe.jpg".
_FORBIDDEN = re.compile(r'["*:<>?/\\|#%\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]')
_RESERVED_STEMS = {"con", "prn", "aux", "nul"} | {f"{p}{n}" for p in ("com", "lpt") for n in range(10)}
_RESERVED_NAMES = {".lock", "lock", "desktop.ini"}
_EDGES = re.compile(r"^[\s.]+|[\s.]+$")


def safe_name(name, *, max_length=255, fallback="file"):
    """name as SharePoint accepts it as one file or folder name: forbidden characters
    become _, no leading/trailing spaces or dots, no reserved names, at most max_length
    characters with the extension kept."""
    name = unicodedata.normalize("NFC", str(name)).encode("utf-8", "replace").decode("utf-8")
    name = _FORBIDDEN.sub("_", name)
    name = re.sub("_vti_", "vti_", name, flags=re.IGNORECASE)
    name = _EDGES.sub("", name)
    if name.startswith("~"):  # ~$ names and ~ folders are refused
        name = "_" + name[1:]
    if name.split(".")[0].lower() in _RESERVED_STEMS or name.lower() in _RESERVED_NAMES:
        name = "_" + name
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem or len(ext) > 16 or len(ext) + 1 >= max_length:
            stem, ext = name, ""
        keep = max_length - (len(ext) + 1 if ext else 0)
        name = _EDGES.sub("", stem[:keep]) + (f".{ext}" if ext else "")
    return name or fallback


def _encode_path(segments):
    return "/".join(quote(segment, safe="") for segment in segments)


# --- Errors and Retry-After --------------------------------------------------------


def _seconds(value):
    """A Retry-After or RateLimit-Reset header (seconds or an HTTP date) in seconds."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, int((when - datetime.now(UTC)).total_seconds()))


def retry_after_seconds(response):
    """The wait a throttled response asks for: the greater of Retry-After and RateLimit-Reset."""
    values = [_seconds(response.headers.get(h)) for h in ("Retry-After", "RateLimit-Reset")]
    values = [v for v in values if v is not None]
    return min(max(values), MAX_RETRY_AFTER) if values else None


def graph_error(response, doing):
    """The SharePointError for an unexpected Graph answer, with Graph's code and message."""
    code = text = ""
    try:
        error = response.json().get("error") or {}
        code, text = str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        pass
    status = response.status_code
    detail = f"{code}: {text}" if code else text or response.reason or ""
    return SharePointError(
        f"Microsoft Graph answered {status} while {doing}: {detail}"[:500],
        retryable=status in RETRYABLE_STATUSES,
        retry_after=retry_after_seconds(response),
        status=status,
        code=code,
    )


def _error_code(response):
    try:
        return (response.json().get("error") or {}).get("code", "")
    except (ValueError, AttributeError):
        return ""


def _network_error(exc, doing):
    # The exception's text can hold URLs (an uploadUrl carries its own credential): name only its type.
    return SharePointError(f"Network error while {doing}: {type(exc).__name__}", retryable=True)


def _first_expected(ranges, size):
    """The first byte Graph still wants, from nextExpectedRanges like ["26-", "40-100"]."""
    starts = []
    for item in ranges or []:
        start = str(item).split("-", 1)[0]
        if start.isdigit():
            starts.append(int(start))
    return min(starts) if starts else size


def _session_timeout(expiration):
    """Seconds to remember an upload session: until Graph's expirationDateTime, less a minute."""
    try:
        when = datetime.fromisoformat(str(expiration).replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(60, int((when - datetime.now(UTC)).total_seconds()) - 60)
    except ValueError:
        return 3600


# --- The client -------------------------------------------------------------------


class GraphClient:
    """Uploads to one site's default document library as the app itself."""

    def __init__(self, *, tenant_id, client_id, client_secret, site_id, authority, base_url, chunk_size=CHUNK_SIZE):
        if chunk_size % CHUNK_UNIT:
            raise ValueError("chunk_size must be a multiple of 320 KiB")
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._client_secret = client_secret
        self.authority = authority.rstrip("/")
        self.chunk_size = chunk_size
        self.drive_url = f"{base_url.rstrip('/')}/v1.0/sites/{quote(site_id, safe=',')}/drive"
        # No Authorization header here: it is added per Graph call and never sent to an uploadUrl.
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        self._app = None
        self._app_lock = threading.Lock()

    # Sign-in -----------------------------------------------------------------------

    def _msal_app(self):
        # Built on first use: the constructor fetches the tenant's OpenID configuration.
        with self._app_lock:
            if self._app is None:
                host = urlsplit(self.authority).hostname or ""
                microsoft = host in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS
                self._app = msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=self._client_secret,
                    authority=f"{self.authority}/{self.tenant_id}",
                    timeout=TIMEOUT,
                    # Otherwise msal asks login.microsoftonline.com to vouch for any other host.
                    instance_discovery=None if microsoft else False,
                    app_name="Madio WhatsApp",
                )
            return self._app

    def access_token(self):
        """A Graph token for the app; msal answers from its cache until shortly before expiry."""
        try:
            result = self._msal_app().acquire_token_for_client(scopes=GRAPH_SCOPES)
        except requests.RequestException as exc:
            raise _network_error(exc, "signing in to Microsoft") from exc
        except msal.exceptions.MsalServiceError as exc:  # the token endpoint answered 5xx
            raise SharePointError(f"Sign-in to Microsoft failed for now: {exc}"[:300], retryable=True) from exc
        except ValueError as exc:  # the authority refused the tenant's OpenID configuration
            raise SharePointError(
                f"Sign-in to Microsoft failed: {str(exc).splitlines()[0][:300]}", retryable=False, code="authority"
            ) from exc
        if "access_token" in result:
            return result["access_token"]
        error = str(result.get("error", "unknown_error"))
        description = str(result.get("error_description", "")).splitlines()[0:1]
        raise SharePointError(
            f"Sign-in to Microsoft was refused: {error}: {''.join(description)}"[:500],
            retryable=error in RETRYABLE_TOKEN_ERRORS,
            code=error,
        )

    def forget_token(self):
        if self._app is not None:
            self._app.remove_tokens_for_client()

    # Graph calls ---------------------------------------------------------------------

    def _graph(self, method, url, doing, **kwargs):
        """One authorised Graph call; a 401 (expired token) gets a fresh token and one more try."""
        extra_headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers = {**extra_headers, "Authorization": f"Bearer {self.access_token()}"}
            try:
                response = self.http.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)
            except requests.RequestException as exc:
                raise _network_error(exc, doing) from exc
            if response.status_code != 401 or attempt == 2:
                return response
            log.info("SharePoint: Graph refused the token (401) while %s; signing in again", doing)
            self.forget_token()

    def _folder_key(self, segments):
        digest = hashlib.sha256(f"{self.drive_url}\n{'/'.join(segments)}".encode()).hexdigest()[:40]
        return f"sharepoint:folder:{digest}"

    def ensure_folder(self, segments):
        """Create the folder path (a list of safe names) level by level; an existing
        folder (409 nameAlreadyExists) counts as created. Known folders are cached."""
        segments = list(segments)
        keys = [self._folder_key(segments[: i + 1]) for i in range(len(segments))]
        known = cache.get_many(keys)
        if keys and keys[-1] in known:
            return
        for i, name in enumerate(segments):
            if keys[i] in known:
                continue
            parent = segments[:i]
            url = (
                f"{self.drive_url}/root:/{_encode_path(parent)}:/children"
                if parent
                else f"{self.drive_url}/root/children"
            )
            body = {"name": name, "folder": {}, "@microsoft.graph.conflictBehavior": "fail"}
            response = self._graph("POST", url, "creating a folder", json=body)
            exists = response.status_code == 409 and _error_code(response) == "nameAlreadyExists"
            if response.status_code not in (200, 201) and not exists:
                raise graph_error(response, "creating a folder")
            cache.set(keys[i], True, FOLDER_CACHE_SECONDS)

    def forget_folder(self, segments):
        segments = list(segments)
        cache.delete_many([self._folder_key(segments[: i + 1]) for i in range(len(segments))])

    def _folder_vanished(self, segments):
        # The folder was cached as created but Graph cannot find it (someone removed it):
        # forget it, so the next try creates it again (or learns that the site is gone).
        self.forget_folder(segments)
        raise SharePointError(
            "The backup folder is missing in SharePoint; it is created again on the next try",
            retryable=True,
            status=404,
            code="itemNotFound",
        )

    def get_item(self, segments):
        """The driveItem at the path, or None."""
        response = self._graph("GET", f"{self.drive_url}/root:/{_encode_path(segments)}", "reading a file's details")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise graph_error(response, "reading a file's details")
        return response.json()

    # Uploads ----------------------------------------------------------------------

    def upload(self, *, folder, name, fileobj, size, session_key=None):
        """Upload size bytes from the seekable fileobj as folder/name; return the driveItem.

        folder is a list of safe names, created when missing. When the name is taken, a
        file of the same size there is taken to be this one's earlier upload (a worker that
        died before recording it); otherwise Graph picks a new name (conflictBehavior
        rename). session_key names the cache entry that remembers an upload session, so a
        later attempt resumes it.
        """
        self.ensure_folder(folder)
        path = [*folder, name]
        item = None
        for behaviour in ("fail", "rename"):
            try:
                if size <= SIMPLE_UPLOAD_MAX:
                    item = self._simple_upload(path, fileobj, size, behaviour)
                else:
                    item = self._session_upload(path, fileobj, size, behaviour, session_key)
                break
            except _NameTaken:
                if session_key:
                    cache.delete(session_key)
                existing = self.get_item(path)
                if existing and existing.get("size") == size and "file" in existing:
                    log.info("SharePoint: the file is already there with the same size; keeping it")
                    return existing
        if item is None:
            raise SharePointError("SharePoint refused the file name twice", retryable=True, code="nameAlreadyExists")
        if item.get("size") != size:
            raise SharePointError(
                f"SharePoint kept {item.get('size')} bytes of a {size}-byte file", retryable=True, code="sizeMismatch"
            )
        return item

    def _simple_upload(self, path, fileobj, size, behaviour):
        fileobj.seek(0)
        data = fileobj.read(size)
        url = f"{self.drive_url}/root:/{_encode_path(path)}:/content"
        response = self._graph(
            "PUT",
            url,
            "uploading a file",
            params={"@microsoft.graph.conflictBehavior": behaviour},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if response.status_code == 409 and _error_code(response) == "nameAlreadyExists":
            raise _NameTaken
        if response.status_code == 404:
            self._folder_vanished(path[:-1])
        if response.status_code not in (200, 201):
            raise graph_error(response, "uploading a file")
        return response.json()

    def _create_session(self, path, size, behaviour):
        url = f"{self.drive_url}/root:/{_encode_path(path)}:/createUploadSession"
        body = {"item": {"@microsoft.graph.conflictBehavior": behaviour, "name": path[-1]}, "deferCommit": False}
        response = self._graph("POST", url, "starting an upload session", json=body)
        if response.status_code == 409 and _error_code(response) == "nameAlreadyExists":
            raise _NameTaken
        if response.status_code == 404:
            self._folder_vanished(path[:-1])
        if response.status_code != 200:
            raise graph_error(response, "starting an upload session")
        return response.json()

    def _session_upload(self, path, fileobj, size, behaviour, session_key):
        remembered = cache.get(session_key) if session_key else None
        url = None
        if remembered and remembered.get("target") == [self.drive_url, *path] and remembered.get("size") == size:
            url = remembered["url"]
        restarts = resumes = 0
        offset = None
        while True:
            try:
                if url is None:
                    session = self._create_session(path, size, behaviour)
                    url, offset = session["uploadUrl"], 0
                    if session_key:
                        entry = {"url": url, "target": [self.drive_url, *path], "size": size}
                        cache.set(session_key, entry, _session_timeout(session.get("expirationDateTime")))
                elif offset is None:
                    offset = self._session_position(url, size)
                    log.info("SharePoint: resuming an upload session at byte %d of %d", offset, size)
                item = self._send_chunks(url, fileobj, size, offset)
            except _SessionGone:
                # Expired or vanished: Graph's advice is to start the whole upload over.
                restarts += 1
                if restarts > 1:
                    raise SharePointError(
                        "The upload session expired twice", retryable=True, code="sessionExpired"
                    ) from None
                log.info("SharePoint: the upload session expired; starting over")
                url = offset = None
                continue
            except _Interrupted:
                resumes += 1
                if resumes > 2:
                    raise SharePointError(
                        "The connection broke during the upload three times", retryable=True, code="interrupted"
                    ) from None
                offset = None
                continue
            if session_key:
                cache.delete(session_key)
            return item

    def _session_position(self, url, size):
        """Where Graph wants the next byte of the session (GET uploadUrl, no Authorization)."""
        try:
            response = self.http.get(url, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise _network_error(exc, "asking where the upload stopped") from exc
        if response.status_code == 404:
            raise _SessionGone
        if response.status_code != 200:
            raise graph_error(response, "asking where the upload stopped")
        return _first_expected(response.json().get("nextExpectedRanges"), size)

    def _send_chunks(self, url, fileobj, size, offset):
        """PUT the file from offset to the uploadUrl, in order; return the final driveItem."""
        conflicts = 0
        while True:
            if offset >= size:
                # Graph has every byte but did not answer with the item: start over.
                raise _SessionGone
            end = min(offset + self.chunk_size, size) - 1
            fileobj.seek(offset)
            data = fileobj.read(end - offset + 1)
            headers = {"Content-Range": f"bytes {offset}-{end}/{size}", "Content-Type": "application/octet-stream"}
            try:
                # The uploadUrl carries its own credential; an Authorization header may get a 401.
                response = self.http.put(url, data=data, headers=headers, timeout=TIMEOUT)
            except requests.RequestException as exc:
                log.info("SharePoint: a chunk upload broke (%s); resuming", type(exc).__name__)
                raise _Interrupted from exc
            status = response.status_code
            if status in (200, 201):
                return response.json()
            if status == 202:
                offset = _first_expected(response.json().get("nextExpectedRanges"), end + 1)
                continue
            if status == 404:
                raise _SessionGone
            if status == 416 and conflicts < 3:  # a range Graph already has: ask where it stands
                conflicts += 1
                offset = self._session_position(url, size)
                continue
            if status == 409 and _error_code(response) == "nameAlreadyExists":
                raise _NameTaken
            raise graph_error(response, "uploading a chunk")


_client = None
_client_settings = None
_client_lock = threading.Lock()


def _settings_tuple():
    return (
        settings.SHAREPOINT_TENANT_ID,
        settings.SHAREPOINT_CLIENT_ID,
        settings.SHAREPOINT_CLIENT_SECRET,
        settings.SHAREPOINT_SITE_ID,
        settings.SHAREPOINT_AUTHORITY,
        settings.GRAPH_API_BASE_URL,
    )


def sharepoint_client():
    """The process's GraphClient (so msal's token cache is shared), rebuilt if the settings change."""
    global _client, _client_settings
    current = _settings_tuple()
    with _client_lock:
        if _client is None or _client_settings != current:
            tenant, client_id, secret, site, authority, base = current
            _client = GraphClient(
                tenant_id=tenant,
                client_id=client_id,
                client_secret=secret,
                site_id=site,
                authority=authority,
                base_url=base,
            )
            _client_settings = current
        return _client
