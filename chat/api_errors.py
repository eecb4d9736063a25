"""Every API error is JSON naming the field with a sentence, never an HTML page or a 500.

Shape: {"field": "to_phone" | null, "message": "...", "detail": "...",
        "errors": [{"field": ..., "message": ...}, ...]}
("detail" repeats the first message for clients written against DRF's default.)
"""

from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found
from django.views.defaults import server_error as server_error_page
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework_simplejwt.exceptions import InvalidToken

SENTENCES = {
    exceptions.NotAuthenticated: (
        "Send a JWT access token as 'Authorization: Bearer <token>'; POST /api/auth/token gives one."
    ),
    exceptions.UnsupportedMediaType: "Send the body as JSON (Content-Type: application/json) or as a multipart form.",
    exceptions.PermissionDenied: "You need the WhatsApp chat permission.",
}


def flatten(detail, field=None):
    """[(field, message)] from DRF's nested error details."""
    if isinstance(detail, dict):
        if "detail" in detail and not isinstance(detail["detail"], (dict, list)):  # simplejwt's token errors
            return [(field, str(detail["detail"]))]
        pairs = []
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "detail") else str(key)
            if field is not None and name is not None:
                name = f"{field}[{name}]" if name.isdigit() else f"{field}.{name}"
            pairs.extend(flatten(value, name if name is not None else field))
        return pairs
    if isinstance(detail, list):
        pairs = []
        for item in detail:
            pairs.extend(flatten(item, field))
        return pairs
    return [(field, str(detail))]


def error_body(pairs):
    errors = [{"field": field, "message": message} for field, message in pairs] or [
        {"field": None, "message": "The request could not be processed."}
    ]
    first = errors[0]
    return {"field": first["field"], "message": first["message"], "detail": first["message"], "errors": errors}


def error_response(field, message, status_code, headers=None):
    return Response(error_body([(field, message)]), status=status_code, headers=headers)


def exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        return error_response(None, "The request body is too large.", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
        return error_response(None, "The form has too many fields or files.", status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RecursionError):  # JSON nested thousands deep
        return error_response(None, "The body could not be read: it is nested too deeply.", 400)
    if isinstance(exc, SuspiciousOperation):
        return error_response(None, "The request could not be read.", status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, Http404):  # Django's 404 text names models; ours are raised as NotFound
        response.data = error_body([(None, "Not found.")])
        return response
    if isinstance(exc, InvalidToken):
        detail = exc.detail if isinstance(exc.detail, dict) else {"detail": exc.detail}
        reasons = [item.get("message") for item in detail.get("messages", []) if isinstance(item, dict)]
        reason = str(reasons[-1] if reasons else detail.get("detail", "it cannot be read")).rstrip(".")
        message = f"The token is not valid: {reason}."
        if "refresh" not in context["request"].path:
            message += " POST /api/auth/token/refresh gives a new access token."
        response.data = error_body([(None, message)])
        return response
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 1)
        message = f"Too many requests. Try again in {wait} second{'s' if wait != 1 else ''}."
        response.data = error_body([(None, message)])
        return response
    if isinstance(exc, exceptions.ParseError):
        response.data = error_body([(None, f"The body could not be read: {exc.detail}")])
        return response
    if isinstance(exc, (PermissionDenied, exceptions.PermissionDenied)) and str(exc) in (
        "",
        exceptions.PermissionDenied.default_detail,
    ):
        response.data = error_body([(None, SENTENCES[exceptions.PermissionDenied])])
        return response
    for kind, sentence in SENTENCES.items():
        if type(exc) is kind:
            response.data = error_body([(None, sentence)])
            return response
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    response.data = error_body(flatten(detail))
    return response


def _is_api(request):
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """settings' handler404: JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body([(None, "There is no such API address; /docs lists them.")]), status=404)
    return page_not_found(request, exception)


def server_error(request):
    """settings' handler500: JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body([(None, "Something went wrong on our side; it has been logged.")]), status=500)
    return server_error_page(request)
