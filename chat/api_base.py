"""What every API endpoint shares: JWT auth, the chat permission, the rate limit,
input fields with clear errors, and keyset (cursor) pages of constant cost."""

import base64
import binascii
import json

from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from chat.access import can_use_chat
from chat.api_throttle import ApiRateThrottle
from chat.phones import InvalidPhone, normalize_phone


class CanUseChat(BasePermission):
    message = "You need the WhatsApp chat permission."

    def has_permission(self, request, view):
        return can_use_chat(request.user)


class ChatApi(APIView):
    """Base of every chat endpoint: a JWT bearer token and the chat permission."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsAuthenticated, CanUseChat]
    throttle_classes = [ApiRateThrottle]


def no_surrogates(value):
    """Lone UTF-16 surrogates (valid in JSON, not in UTF-8) would fail at the database."""
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValidationError("The text contains characters that are not valid Unicode.")


class TextField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("validators", []).append(no_surrogates)
        super().__init__(**kwargs)


class PhoneField(serializers.CharField):
    """Any common way of writing a number, returned as E.164."""

    default_error_messages = {"blank": "Enter a phone number.", "required": "Enter the customer's phone number."}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("help_text", "The customer's number in any common form; stored as E.164 (+919876543210).")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return normalize_phone(text)
        except InvalidPhone as error:
            raise ValidationError(str(error)) from None


def encode_cursor(values):
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text, *, length):
    """The list of `length` values in a cursor made by encode_cursor, or a 400 naming 'cursor'."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != length:
        raise ValidationError({"cursor": ["This cursor is not one this API gave out; start again without it."]})
    return values


def page_limit(request, default=50, maximum=200):
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ValidationError({"limit": [f"Use a whole number from 1 to {maximum}."]})
    return int(raw)


def next_link(request, cursor):
    if cursor is None:
        return None
    query = request.query_params.copy()
    query["cursor"] = cursor
    return request.build_absolute_uri(request.path) + "?" + query.urlencode()
