"""The WhatsApp Business Cloud API client: one small class over requests.Session.

Facts it builds on are in shared/research/whatsapp-cloud-api.md. Every failure becomes
a WhatsAppError that says whether trying again can help; callers never see requests'
own exceptions.
"""

import logging
import re

import requests
from django.conf import settings
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

logger = logging.getLogger(__name__)

USER_AGENT = "MadioWhatsApp/1.0"
LINK_RE = re.compile(r"https?://\S+", re.IGNORECASE)

# Codes after which the same request can succeed later (rate limits, transient faults).
RETRYABLE_CODES = {1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131048, 131056, 131057}
# The shortest sensible pause (seconds) before retrying after these codes: the pair
# rate limit frees up after about 6 s, account and spam limits much later.
MIN_RETRY_DELAY = {131048: 60, 131056: 6, 4: 60, 80007: 60, 130429: 2}
TOKEN_CODES = {0, 190}


class WhatsAppError(Exception):
    """A failed Cloud API call, with what Meta said and whether a retry can help."""

    def __init__(
        self,
        message,
        *,
        code=None,
        subcode=None,
        title="",
        details="",
        http_status=None,
        retryable=False,
        retry_after=None,
        uncertain=False,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.title = title or message
        self.details = details
        self.http_status = http_status
        self.retryable = retryable
        self.retry_after = retry_after
        # The request may have reached Meta and been acted on (no answer came back):
        # a send must not simply be repeated.
        self.uncertain = uncertain

    def __str__(self):
        return f"WhatsApp error {self.code} (HTTP {self.http_status}): {self.title}"


def classify(code, http_status):
    """Whether a failure with this Meta code and HTTP status can succeed on retry."""
    if code is not None:
        return code in RETRYABLE_CODES or (http_status or 0) >= 500
    return http_status is None or http_status >= 500 or http_status == 429


def _retry_after(response):
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _never_connected(exc):
    """True when the request surely never reached the server (refused, DNS, connect timeout)."""
    seen, pending = set(), [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectTimeoutError | NameResolutionError):
            return True
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        pending.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
    return False


_token_error_logged = False


def _log_token_error_once(error):
    """An expired or invalid token needs an admin; say so once per process, not per message."""
    global _token_error_logged
    if not _token_error_logged:
        _token_error_logged = True
        logger.error(
            "WhatsApp refused the access token (code %s): set a valid WHATSAPP_ACCESS_TOKEN. "
            "Sends fail until it is fixed.",
            error.code,
        )


def error_from_response(response):
    """Build a WhatsAppError from a non-2xx Cloud API response."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    code = code if isinstance(code, int) else None
    details = ""
    if isinstance(error.get("error_data"), dict):
        details = str(error["error_data"].get("details") or "")
    title = str(error.get("error_user_title") or error.get("message") or response.reason or "Request failed")
    result = WhatsAppError(
        str(error.get("message") or f"HTTP {response.status_code}"),
        code=code,
        subcode=error.get("error_subcode"),
        title=title[:255],
        details=details,
        http_status=response.status_code,
        retryable=classify(code, response.status_code),
        retry_after=_retry_after(response),
    )
    if code in TOKEN_CODES or response.status_code == 401:
        _log_token_error_once(result)
    return result


class CloudAPIClient:
    """Calls the Cloud API of one business number."""

    def __init__(self, *, base_url, version, token, phone_number_id, business_account_id="", timeout=(5, 30)):
        self.base = f"{base_url.rstrip('/')}/{version}"
        self.phone_number_id = phone_number_id
        self.business_account_id = business_account_id
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT})

    @classmethod
    def from_settings(cls):
        return cls(
            base_url=settings.WHATSAPP_API_BASE_URL,
            version=settings.WHATSAPP_API_VERSION,
            token=settings.WHATSAPP_ACCESS_TOKEN,
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
            business_account_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID,
            timeout=(5, getattr(settings, "WHATSAPP_API_READ_TIMEOUT", 30)),
        )

    # --- transport -------------------------------------------------------------

    def request(self, method, url, **kwargs):
        """One HTTP call; returns the response or raises WhatsAppError."""
        if not url.startswith(("http://", "https://")):
            url = f"{self.base}/{url.lstrip('/')}"
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.ConnectTimeout as exc:
            raise WhatsAppError("Could not reach WhatsApp in time", title="Connect timeout", retryable=True) from exc
        except requests.Timeout as exc:
            raise WhatsAppError(
                "WhatsApp did not answer in time", title="Timeout", retryable=True, uncertain=True
            ) from exc
        except requests.RequestException as exc:
            raise WhatsAppError(
                "Could not reach WhatsApp",
                title=f"Network error: {type(exc).__name__}",
                retryable=True,
                uncertain=not _never_connected(exc),
            ) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def _json(self, method, path, **kwargs):
        response = self.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError as exc:
            raise WhatsAppError(
                "WhatsApp answered with something that is not JSON",
                title="Unexpected answer",
                http_status=response.status_code,
                retryable=True,
            ) from exc
        if not isinstance(body, dict):
            raise WhatsAppError("Unexpected answer from WhatsApp", http_status=response.status_code, retryable=True)
        return body

    # --- messages --------------------------------------------------------------

    def send(self, to, message_type, content, *, reply_to=None, callback_data=""):
        """POST one message; returns the wamid Meta assigned.

        callback_data (biz_opaque_callback_data, up to 512 characters) comes back in
        every status webhook of this message, so a status can be matched to our row
        even if the wamid was never saved (a worker that died right after the send).
        """
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": message_type}
        payload[message_type] = content
        if reply_to:
            payload["context"] = {"message_id": reply_to}
        if callback_data:
            payload["biz_opaque_callback_data"] = str(callback_data)[:512]
        body = self._json("POST", f"{self.phone_number_id}/messages", json=payload)
        try:
            return str(body["messages"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise WhatsAppError("WhatsApp accepted the send without a message id", retryable=False) from exc

    def send_text(self, to, body, *, reply_to=None, preview_url=None, callback_data=""):
        if preview_url is None:
            preview_url = bool(LINK_RE.search(body))
        content = {"body": body, "preview_url": preview_url}
        return self.send(to, "text", content, reply_to=reply_to, callback_data=callback_data)

    def send_media(
        self, to, kind, *, media_id=None, link=None, caption="", filename="", reply_to=None, callback_data=""
    ):
        if bool(media_id) == bool(link):
            raise ValueError("Send media by exactly one of media_id or link")
        content = {"id": media_id} if media_id else {"link": link}
        if caption and kind in ("image", "video", "document"):
            content["caption"] = caption
        if filename and kind == "document":
            content["filename"] = filename
        return self.send(to, kind, content, reply_to=reply_to, callback_data=callback_data)

    def send_template(self, to, name, language, components=None, *, reply_to=None, callback_data=""):
        content = {"name": name, "language": {"code": language}}
        if components:
            content["components"] = components
        return self.send(to, "template", content, reply_to=reply_to, callback_data=callback_data)

    def send_reaction(self, to, message_id, emoji, *, callback_data=""):
        return self.send(to, "reaction", {"message_id": message_id, "emoji": emoji}, callback_data=callback_data)

    def mark_read(self, message_id, *, typing=False):
        payload = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            payload["typing_indicator"] = {"type": "text"}
        return bool(self._json("POST", f"{self.phone_number_id}/messages", json=payload).get("success"))

    # --- media -------------------------------------------------------------------

    def upload_media(self, fileobj, *, mime_type, filename):
        body = self._json(
            "POST",
            f"{self.phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, fileobj, mime_type)},
            timeout=(self.timeout[0], 120),
        )
        if not body.get("id"):
            raise WhatsAppError("WhatsApp accepted the upload without a media id", retryable=True)
        return str(body["id"])

    def media_info(self, media_id):
        """{url, mime_type, sha256, file_size, id}; the url lives about five minutes."""
        return self._json("GET", str(media_id))

    def download_media(self, url, *, max_bytes, chunk_size=64 * 1024):
        """Stream a media URL with the token; yields chunks, refusing more than max_bytes."""
        response = self.request("GET", url, stream=True, timeout=(self.timeout[0], 60))
        received = 0
        try:
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise WhatsAppError(f"Media is larger than the {max_bytes} bytes allowed", title="Media too large")
            for chunk in response.iter_content(chunk_size):
                received += len(chunk)
                if received > max_bytes:
                    raise WhatsAppError(f"Media is larger than the {max_bytes} bytes allowed", title="Media too large")
                yield chunk
        except requests.RequestException as exc:
            raise WhatsAppError("The media download broke off", title="Network error", retryable=True) from exc
        finally:
            response.close()

    # --- templates --------------------------------------------------------------

    def list_templates(self, *, limit=100):
        """Every template of the business account, following Meta's paging."""
        templates, url = [], f"{self.business_account_id}/message_templates"
        params = {"limit": limit}
        for _ in range(100):  # a bound, not an expectation: 100 pages of 100 templates
            body = self._json("GET", url, params=params)
            templates.extend(t for t in body.get("data") or [] if isinstance(t, dict))
            url = ((body.get("paging") or {}).get("next")) or ""
            params = None
            if not url:
                break
        return templates
