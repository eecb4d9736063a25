"""The REST API for the ERP: one APIView per operation, each with its Input and
Output serializers, calling the same services as the chat page.

Every endpoint takes a JWT bearer token and the chat permission (chat.api_base.ChatApi),
is rate-limited per user, and answers errors as JSON naming the field (chat.api_errors).
"""

from django.conf import settings
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from chat import services
from chat.access import find_conversation_for_user, visible_conversations
from chat.api_base import (
    ChatApi,
    PhoneField,
    TextField,
    decode_cursor,
    encode_cursor,
    next_link,
    page_limit,
)
from chat.api_errors import error_response
from chat.forms import BODY_MAX
from chat.media_rules import (
    CAPTION_MAX,
    LARGEST_UPLOAD,
    MB,
    MEDIA_TYPES,
    RULES,
    MediaRefused,
    check_caption,
    check_upload,
    max_bytes,
)
from chat.message_templates import TemplateRefused, parameter_count, template_send
from chat.models import Conversation, Message
from chat.rich_messages import LIMITS as RICH_LIMITS
from chat.rich_messages import RichRefused
from chat.selectors.conversations import InboxFilter, conversation_page, parse_conversation_cursor
from chat.selectors.messages import message_page
from chat.selectors.stats import message_stats
from chat.selectors.templates import template_list
from chat.services import inbox, notes
from integrations.fetch import FetchRefused, check_url
from links.services import InvalidEntity, check_entity

TEXT_MAX = BODY_MAX  # WhatsApp's text limit, the composer's too
IDEMPOTENCY_KEY_MAX = 128

# --- Shared output and error shapes ---------------------------------------------------


class ErrorOutput(serializers.Serializer):
    @extend_schema_serializer(component_name="ErrorItem")
    class Item(serializers.Serializer):
        field = serializers.CharField(allow_null=True)
        message = serializers.CharField()

    field = serializers.CharField(allow_null=True, help_text="The input field at fault, or null.")
    message = serializers.CharField(help_text="A sentence a person understands.")
    detail = serializers.CharField(help_text="The same sentence, for clients written against DRF's default.")
    errors = Item(many=True)


class EntityLinkOutput(serializers.Serializer):
    entity_type = serializers.CharField()
    entity_id = serializers.CharField()
    created_at = serializers.DateTimeField()


class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    whatsapp_message_id = serializers.CharField(allow_null=True, help_text="Set once WhatsApp accepts the send.")
    direction = serializers.ChoiceField(choices=Message.Direction.choices)
    message_type = serializers.ChoiceField(choices=Message.Type.choices)
    status = serializers.ChoiceField(choices=Message.Status.choices)
    from_phone = serializers.CharField()
    to_phone = serializers.CharField()
    other_party = serializers.CharField()
    from_user = serializers.CharField(source="from_user.get_username", allow_null=True, default=None)
    message_body = serializers.CharField()
    caption = serializers.CharField()
    data = serializers.JSONField(help_text="Structured content: location, contacts, template, media link, ...")
    mime_type = serializers.CharField()
    file_name = serializers.CharField()
    file_size = serializers.IntegerField(allow_null=True)
    media_state = serializers.CharField()
    media_url = serializers.CharField(help_text="The SharePoint address of the backed-up media, once uploaded.")
    read = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    seen_at = serializers.DateTimeField(allow_null=True)
    failed_at = serializers.DateTimeField(allow_null=True)
    error_code = serializers.IntegerField(allow_null=True)
    error_title = serializers.CharField()
    entity_links = EntityLinkOutput(many=True, source="entity_links.all")


class MessagePageOutput(serializers.Serializer):
    results = MessageOutput(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null at the end.")


ERRORS = {
    400: OpenApiResponse(ErrorOutput, description="Invalid input: `field` names it."),
    401: OpenApiResponse(ErrorOutput, description="No valid access token."),
    403: OpenApiResponse(ErrorOutput, description="The user lacks the WhatsApp chat permission."),
    429: OpenApiResponse(ErrorOutput, description="Over the rate limit; see Retry-After."),
}
SEND_ERRORS = {
    **ERRORS,
    413: OpenApiResponse(ErrorOutput, description="The request body is too large."),
    422: OpenApiResponse(
        ErrorOutput, description="Refused: outside the 24-hour customer-service window (use send-template)."
    ),
}
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="A key of your choice (up to 128 characters). Repeating a request with the same key returns "
    "the first message instead of sending again.",
)
PAGE_PARAMETERS = [
    OpenApiParameter("cursor", OpenApiTypes.STR, description="The `next` link's cursor, for the following page."),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Items per page, 1 to 200 (default 50)."),
]


def messages_page_response(request, rows, after, output=MessageOutput):
    return Response(
        {
            "results": output(rows, many=True).data,
            "next": next_link(request, encode_cursor([after]) if after is not None else None),
        }
    )


def before_id(request):
    cursor = request.query_params.get("cursor")
    if not cursor:
        return None
    (value,) = decode_cursor(cursor, length=1)
    if not isinstance(value, int):
        raise ValidationError({"cursor": ["This cursor is not one this API gave out; start again without it."]})
    return value


# --- Sending --------------------------------------------------------------------------


def entity_fields(attrs):
    """The (entity_type, entity_id) pair from link_to_entity/entity_type, checked, or None."""
    entity_id, entity_type = attrs.pop("link_to_entity", None), attrs.pop("entity_type", None)
    if entity_id in (None, "") and not entity_type:
        return None
    if entity_id in (None, ""):
        raise ValidationError({"link_to_entity": ["Give the id of the record to link to, with entity_type."]})
    if not entity_type:
        allowed = ", ".join(settings.ENTITY_TYPES)
        raise ValidationError({"entity_type": [f"Give the entity type to link to: one of {allowed}."]})
    try:
        return check_entity(entity_type, entity_id)
    except InvalidEntity as error:
        field = "entity_type" if entity_type not in settings.ENTITY_TYPES else "link_to_entity"
        raise ValidationError({field: [str(error)]}) from None


class EntityInput(serializers.Serializer):
    """The optional ERP record a send or a note is linked to."""

    link_to_entity = TextField(
        required=False, allow_blank=True, max_length=64, help_text="The id of an ERP record to link the message to."
    )
    entity_type = TextField(
        required=False, allow_blank=True, max_length=32, help_text="The record's type: one of ENTITY_TYPES."
    )

    def validate(self, attrs):
        attrs["entity"] = entity_fields(attrs)
        return attrs


class SendInput(EntityInput):
    to_phone = PhoneField()


def idempotency_key(request):
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None
    if len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise ValidationError(
            {"Idempotency-Key": [f"Use at most {IDEMPOTENCY_KEY_MAX} printable characters for the Idempotency-Key."]}
        )
    return key


def queue_send(request, *, to_phone, queue=services.message_queue, **fields):
    """Store the message as queued (sent by the worker after commit) and answer 202 with it."""
    key = idempotency_key(request)
    try:
        # A refused send also undoes the creation of a new conversation.
        with transaction.atomic():
            conversation = services.conversation_get_or_create(phone=to_phone)
            message = queue(conversation=conversation, author=request.user, idempotency_key=key, **fields)
    except TemplateRefused as refused:
        return error_response(refused.field, refused.reason, status.HTTP_400_BAD_REQUEST)
    except services.SendRefused as refused:
        code = (
            status.HTTP_422_UNPROCESSABLE_ENTITY
            if refused.code == "outside_service_window"
            else status.HTTP_400_BAD_REQUEST
        )
        return error_response("to_phone", refused.reason, code)
    return Response(MessageOutput(message).data, status=status.HTTP_202_ACCEPTED)


class SendMessageApi(ChatApi):
    @extend_schema_serializer(component_name="SendMessageInput")
    class InputSerializer(SendInput):
        message = TextField(max_length=TEXT_MAX, help_text=f"The text, up to {TEXT_MAX} characters.")

        def validate_message(self, value):
            if not value.strip():
                raise ValidationError("Write a message.")
            return value

    @extend_schema(
        operation_id="send_message",
        summary="Send a text message",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: MessageOutput, **SEND_ERRORS},
        examples=[
            OpenApiExample(
                "Text linked to a project",
                value={
                    "to_phone": "+919876543210",
                    "message": "Your order has shipped.",
                    "link_to_entity": "42",
                    "entity_type": "project",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        return queue_send(
            request,
            to_phone=values["to_phone"],
            message_type=Message.Type.TEXT,
            body=values["message"],
            entity=values["entity"],
        )


class SendMediaApi(ChatApi):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema_serializer(component_name="SendMediaInput")
    class InputSerializer(SendInput):
        media_type = serializers.ChoiceField(choices=list(MEDIA_TYPES))
        media_url = TextField(
            required=False,
            allow_blank=True,
            max_length=2000,
            help_text="A public http(s) address WhatsApp fetches the file from (or send `file`).",
        )
        file = serializers.FileField(
            required=False, allow_empty_file=True, help_text="The file itself, as multipart/form-data."
        )
        caption = TextField(required=False, allow_blank=True, default="")
        filename = TextField(required=False, allow_blank=True, max_length=240, default="")

        def validate(self, attrs):
            attrs = super().validate(attrs)
            media_type, upload, url = attrs["media_type"], attrs.get("file"), attrs.get("media_url", "").strip()
            if bool(upload) == bool(url):
                raise ValidationError({"media_url": ["Give either media_url or a file, not both and not neither."]})
            try:
                if url:
                    check_caption(media_type=media_type, caption=attrs["caption"])
                    check_url(url)
                    attrs["media_url"] = url
                    return attrs
                name = attrs["filename"] or upload.name or "file"
                _, attrs["mime_type"] = check_upload(
                    upload, media_type=media_type, file_name=name, caption=attrs["caption"]
                )
            except MediaRefused as refused:
                raise ValidationError({refused.field: [refused.reason]}) from None
            except FetchRefused as refused:
                raise ValidationError({"media_url": [str(refused)]}) from None
            attrs["filename"] = name
            return attrs

    @extend_schema(
        operation_id="send_media",
        summary="Send an image, video, audio, document or sticker",
        description="By `media_url` (JSON or form; WhatsApp fetches the link, and the server keeps a copy for the "
        "backup through its safe fetcher) or by uploading `file` (multipart/form-data). "
        + " ".join(rule.sentence for rule in RULES)
        + f" Captions up to {CAPTION_MAX} characters (not on audio or stickers).",
        request={"multipart/form-data": InputSerializer, "application/json": InputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: MessageOutput, **SEND_ERRORS},
    )
    def post(self, request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > LARGEST_UPLOAD:
            largest = max(max_bytes(media_type) for media_type in MEDIA_TYPES) // MB
            return error_response("file", f"The file is larger than any WhatsApp allows ({largest} MB).", 413)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        common = {
            "to_phone": values["to_phone"],
            "message_type": values["media_type"],
            "caption": values["caption"],
            "entity": values["entity"],
        }
        if values.get("media_url"):
            return queue_send(
                request,
                queue=services.message_queue_media_link,
                link=values["media_url"],
                file_name=values["filename"],
                **common,
            )
        return queue_send(
            request, file=values["file"], file_name=values["filename"], mime_type=values["mime_type"], **common
        )


def _rich_api_field(field):
    """The API's name of a field chat.rich_messages refused (it names the composer's inputs)."""
    if field.startswith("button_") and field[7:].isdigit():
        return f"buttons[{int(field[7:]) - 1}]"
    for prefix in ("location_", "contact_", "buttons_", "list_"):
        if field.startswith(prefix):
            return field[len(prefix) :]
    return field


def queue_rich_send(request, *, to_phone, entity, queue, **fields):
    """queue_send for a location, contact card or interactive message: a refused limit is a 400 naming the field."""
    try:
        return queue_send(request, to_phone=to_phone, queue=queue, entity=entity, **fields)
    except RichRefused as refused:
        return error_response(_rich_api_field(refused.field), refused.reason, status.HTTP_400_BAD_REQUEST)


class SendLocationApi(ChatApi):
    @extend_schema_serializer(component_name="SendLocationInput")
    class InputSerializer(SendInput):
        latitude = TextField(max_length=32, help_text="Degrees north, -90 to 90 (a number or its text).")
        longitude = TextField(max_length=32, help_text="Degrees east, -180 to 180.")
        name = TextField(required=False, allow_blank=True, default="", max_length=RICH_LIMITS["location_name"] * 2)
        address = TextField(
            required=False, allow_blank=True, default="", max_length=RICH_LIMITS["location_address"] * 2
        )

    @extend_schema(
        operation_id="send_location",
        summary="Send a location",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: MessageOutput, **SEND_ERRORS},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        return queue_rich_send(
            request,
            to_phone=values["to_phone"],
            entity=values["entity"],
            queue=services.message_send_location,
            **{key: values[key] for key in ("latitude", "longitude", "name", "address")},
        )


class SendContactApi(ChatApi):
    @extend_schema_serializer(component_name="SendContactInput")
    class InputSerializer(SendInput):
        name = TextField(max_length=RICH_LIMITS["contact_name"] * 2, help_text="The contact's full name.")
        phone = TextField(max_length=64, help_text="The contact's number, with the country code.")
        email = TextField(required=False, allow_blank=True, default="", max_length=RICH_LIMITS["contact_email"] * 2)
        org = TextField(required=False, allow_blank=True, default="", max_length=RICH_LIMITS["contact_org"] * 2)

    @extend_schema(
        operation_id="send_contact",
        summary="Send a contact card",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: MessageOutput, **SEND_ERRORS},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        return queue_rich_send(
            request,
            to_phone=values["to_phone"],
            entity=values["entity"],
            queue=services.message_send_contact,
            **{key: values[key] for key in ("name", "phone", "email", "org")},
        )


class SendInteractiveApi(ChatApi):
    @extend_schema_serializer(component_name="SendInteractiveInput")
    class InputSerializer(SendInput):
        class Row(serializers.Serializer):
            title = TextField(max_length=RICH_LIMITS["row_title"] * 4)
            description = TextField(required=False, allow_blank=True, default="", max_length=200)

        body = TextField(max_length=RICH_LIMITS["interactive_body"] * 2, help_text="The message text.")
        footer = TextField(required=False, allow_blank=True, default="", max_length=200)
        buttons = serializers.ListField(
            child=TextField(max_length=100, allow_blank=True),
            required=False,
            max_length=10,
            help_text=f"Reply buttons: up to {RICH_LIMITS['buttons_max']} titles of "
            f"{RICH_LIMITS['button_title']} characters. Give buttons, or button and rows.",
        )
        button = TextField(
            required=False,
            allow_blank=True,
            default="",
            max_length=100,
            help_text=f"A list's button label, up to {RICH_LIMITS['list_button']} characters.",
        )
        rows = serializers.ListField(
            child=Row(),
            required=False,
            max_length=50,
            help_text=f"A list's rows: up to {RICH_LIMITS['rows_max']}, titles of {RICH_LIMITS['row_title']} "
            f"and descriptions of {RICH_LIMITS['row_description']} characters.",
        )

        def validate(self, attrs):
            attrs = super().validate(attrs)
            if ("buttons" in attrs) == ("rows" in attrs):
                raise ValidationError({"buttons": ["Give either buttons (reply buttons) or rows (a list)."]})
            return attrs

    @extend_schema(
        operation_id="send_interactive",
        summary="Send reply buttons or a list",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: MessageOutput, **SEND_ERRORS},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        common = {"to_phone": values["to_phone"], "entity": values["entity"], "body": values["body"]}
        if "buttons" in values:
            return queue_rich_send(
                request,
                queue=services.message_send_buttons,
                titles=values["buttons"],
                footer=values["footer"],
                **common,
            )
        rows = [(row["title"], row["description"]) for row in values["rows"]]
        return queue_rich_send(
            request,
            queue=services.message_send_list,
            button=values["button"],
            rows=rows,
            footer=values["footer"],
            **common,
        )


class SendTemplateApi(ChatApi):
    @extend_schema_serializer(component_name="SendTemplateInput")
    class InputSerializer(SendInput):
        name = TextField(max_length=512, help_text="The template's name, as approved in WhatsApp Manager.")
        language = TextField(max_length=16, help_text="The template's language code, such as en_US.")
        parameters = serializers.ListField(
            child=TextField(max_length=1024),
            required=False,
            default=list,
            max_length=100,
            help_text="Every value the template takes, in this order: the header's (its texts, or the public "
            "address of its image, video or document), the body's, then each URL button's link ending or "
            "copy-code button's code. GET /api/whatsapp/templates shows each template's parameter_count.",
        )

    @extend_schema(
        operation_id="send_template",
        summary="Send an approved template (allowed outside the 24-hour window)",
        description="Starts a conversation with a number that has none: the conversation is created with the "
        "queued message, and a refused send leaves none behind.",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: MessageOutput, **SEND_ERRORS},
        examples=[
            OpenApiExample(
                "Order update",
                value={
                    "to_phone": "+919876543210",
                    "name": "order_update",
                    "language": "en_US",
                    "parameters": ["Asha", "MD-1042"],
                },
                request_only=True,
            ),
            OpenApiExample(
                "Header, body and a URL button, linked to a project",
                value={
                    "to_phone": "+12025550123",
                    "name": "shipment_ready",
                    "language": "en_US",
                    "parameters": ["MD-1042", "Asha", "trk42"],
                    "link_to_entity": "42",
                    "entity_type": "project",
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        return queue_send(
            request,
            queue=template_send,
            to_phone=values["to_phone"],
            name=values["name"],
            language=values["language"],
            parameters=values["parameters"],
            entity=values["entity"],
        )


# --- Reading --------------------------------------------------------------------------


class StatsApi(ChatApi):
    @extend_schema_serializer(component_name="StatsOutput")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="StatsRow")
        class Row(serializers.Serializer):
            direction = serializers.CharField()
            type = serializers.CharField()
            count = serializers.IntegerField()

        total_messages = serializers.IntegerField()
        unique_conversations = serializers.IntegerField()
        breakdown = Row(many=True)
        period_days = serializers.IntegerField()

    @extend_schema(
        operation_id="stats",
        summary="Message statistics over the last `days` days",
        parameters=[OpenApiParameter("days", OpenApiTypes.INT, description="1 to 3650; default 30.")],
        responses={200: OutputSerializer, **ERRORS},
    )
    def get(self, request):
        raw = request.query_params.get("days", "30").strip()
        if not raw.isdigit() or not 1 <= int(raw) <= 3650:
            raise ValidationError({"days": ["Use a whole number of days from 1 to 3650."]})
        return Response(message_stats(days=int(raw)))


class ConversationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    phone = serializers.CharField(source="other_party", allow_null=True)
    wa_user_id = serializers.CharField(allow_null=True)
    wa_username = serializers.CharField(help_text="The customer's WhatsApp username (without @), or empty.")
    display_name = serializers.CharField(help_text="The name staff gave the contact, else the WhatsApp profile name.")
    contact_name = serializers.CharField(help_text="The customer's WhatsApp profile name, as WhatsApp last sent it.")
    staff_name = serializers.CharField(help_text="The name staff gave the contact; empty when none.")
    labels = serializers.SerializerMethodField(help_text="The names of the labels on the conversation.")
    last_message_at = serializers.DateTimeField(allow_null=True)
    last_message_preview = serializers.CharField()
    unread_count = serializers.IntegerField()
    service_window_ends_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=Conversation.Status.choices)
    snoozed_until = serializers.DateTimeField(allow_null=True)
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)
    team = serializers.CharField(source="team.name", allow_null=True, default=None)

    def get_labels(self, conversation) -> list[str]:
        return [label.name for label in conversation.labels.all()]


def refused(error):
    """An inbox service's refusal as the API's 400 naming the field."""
    return ValidationError({error.field: [error.sentence]})


def inbox_filter(params):
    """The sidebar's InboxFilter from the list's status, assignee and team parameters (400 naming a bad one)."""
    status = params.get("status", "")
    if status and status not in Conversation.Status.values:
        raise ValidationError({"status": ["Filter by one of: open, resolved, snoozed."]})
    assignee, team, label = params.get("assignee", ""), params.get("team", ""), params.get("label", "")
    try:
        owner = {"": "all", "me": "mine", "none": "unassigned"}.get(assignee)
        if owner is None:
            owner = f"agent:{inbox.agent_by_username(assignee).pk}"
        team_id = inbox.team_by_name(team).pk if team else None
        label_id = str(inbox.label_by_name(label).pk) if label else ""
    except inbox.InboxRefused as error:
        raise refused(error) from None
    return InboxFilter(status, owner, team_id=team_id, label=label_id)


class ConversationListApi(ChatApi):
    @extend_schema_serializer(component_name="ConversationListOutput")
    class OutputSerializer(serializers.Serializer):
        results = ConversationOutput(many=True)
        next = serializers.URLField(allow_null=True)

    @extend_schema(
        operation_id="conversations",
        summary="Conversations, most recent first; search by phone or name, filter as the sidebar does (with labels)",
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="Part of a phone number or contact name."),
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=Conversation.Status.values,
                description="Only conversations with this status (default: every status).",
            ),
            OpenApiParameter(
                "assignee",
                OpenApiTypes.STR,
                description="`me`, `none` (unassigned) or a colleague's username.",
            ),
            OpenApiParameter("team", OpenApiTypes.STR, description="Only the conversations of the team of this name."),
            OpenApiParameter(
                "label", OpenApiTypes.STR, description="Only the conversations with the label of this name."
            ),
            *PAGE_PARAMETERS,
        ],
        responses={200: OutputSerializer, **ERRORS},
    )
    def get(self, request):
        query = request.query_params.get("q", "")
        if len(query) > 100 or "\x00" in query:
            raise ValidationError({"q": ["Search with at most 100 characters."]})
        filters = inbox_filter(request.query_params)
        after = None
        if request.query_params.get("cursor"):
            after = parse_conversation_cursor(decode_cursor(request.query_params["cursor"], length=2))
            if after is None:
                raise ValidationError({"cursor": ["This cursor is not one this API gave out; start again without it."]})
        rows, after = conversation_page(
            query=query,
            after=after,
            limit=page_limit(request),
            visible=visible_conversations(request.user),
            inbox=filters,
            user=request.user,
        )
        return Response(
            {
                "results": ConversationOutput(rows, many=True).data,
                "next": next_link(request, encode_cursor(list(after)) if after else None),
            }
        )


NOT_FOUND = {
    "id": "There is no conversation with this id.",
    "phone": "There is no conversation with this phone number.",
    "wa_user_id": "There is no conversation with this WhatsApp user id.",
}
REF_PARAMETER = OpenApiParameter(
    "ref",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The conversation: its `id` (up to 9 digits, as in the list), a phone number (starting with `+`, "
    "or 10 or more digits as WhatsApp writes them), or else the customer's WhatsApp user id (`wa_user_id`).",
)


def conversation_or_404(request, ref):
    """The conversation every conversations/<ref>/... route works on; hidden ones are 404 like missing ones."""
    kind, conversation = find_conversation_for_user(request.user, ref)
    if conversation is None:
        raise NotFound(NOT_FOUND[kind])
    return conversation


class ConversationMessagesApi(ChatApi):
    @extend_schema(
        operation_id="conversation_messages",
        summary="A conversation's messages, newest first",
        parameters=[REF_PARAMETER, *PAGE_PARAMETERS],
        responses={200: MessagePageOutput, 404: OpenApiResponse(ErrorOutput), **ERRORS},
    )
    def get(self, request, ref):
        conversation = conversation_or_404(request, ref)
        rows, after = message_page(conversation=conversation, before=before_id(request), limit=page_limit(request))
        return messages_page_response(request, rows, after)


class ConversationMarkReadApi(ChatApi):
    @extend_schema_serializer(component_name="ConversationMarkReadOutput")
    class OutputSerializer(serializers.Serializer):
        marked_read = serializers.IntegerField(help_text="How many inbound messages were unread.")

    @extend_schema(
        operation_id="conversation_mark_read",
        summary="Mark a conversation's inbound messages read (sends WhatsApp a read receipt)",
        parameters=[REF_PARAMETER],
        request=None,
        responses={200: OutputSerializer, 404: OpenApiResponse(ErrorOutput), **ERRORS},
    )
    def post(self, request, ref):
        conversation = conversation_or_404(request, ref)
        changed = services.conversation_mark_read(conversation=conversation, user=request.user)
        return Response({"marked_read": changed})


# --- The team's work on a conversation ---------------------------------------------------

NOT_FOUND_ERRORS = {404: OpenApiResponse(ErrorOutput, description="No such conversation that you may see."), **ERRORS}


class ConversationAssignApi(ChatApi):
    @extend_schema_serializer(component_name="ConversationAssignInput")
    class InputSerializer(serializers.Serializer):
        assignee = TextField(
            required=False,
            allow_null=True,
            max_length=150,
            help_text="A colleague's username (someone with the chat permission), or null for nobody. "
            "Left out: unchanged.",
        )
        team = TextField(
            required=False,
            allow_null=True,
            max_length=64,
            help_text="A team's name, or null for no team. Left out: unchanged (given to another team, the "
            "conversation stays with its agent only if they are a member).",
        )

    @extend_schema(
        operation_id="conversation_assign",
        summary="Assign, transfer or unassign a conversation, or give it to a team",
        parameters=[REF_PARAMETER],
        request=InputSerializer,
        responses={200: ConversationOutput, **NOT_FOUND_ERRORS},
        examples=[
            OpenApiExample("To Ravi in Sales", value={"assignee": "ravi", "team": "Sales"}, request_only=True),
            OpenApiExample("Unassign, keep the team", value={"assignee": None}, request_only=True),
        ],
    )
    def post(self, request, ref):
        conversation = conversation_or_404(request, ref)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            # Both looked up before anything changes: a bad team leaves the assignee as it was.
            assignee = team = inbox.UNCHANGED
            if "assignee" in values:
                assignee = inbox.agent_by_username(values["assignee"]) if values["assignee"] is not None else None
            if "team" in values:
                team = inbox.team_by_name(values["team"]) if values["team"] is not None else None
            conversation = inbox.conversation_assign(
                conversation=conversation, actor=request.user, assignee=assignee, team=team
            )
        except inbox.InboxRefused as error:
            raise refused(error) from None
        return Response(ConversationOutput(conversation).data)


class ConversationStatusApi(ChatApi):
    @extend_schema_serializer(component_name="ConversationStatusInput")
    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Conversation.Status.choices)
        until = serializers.DateTimeField(
            required=False,
            allow_null=True,
            default=None,
            help_text="For snoozed only, and required then: when it opens again (ISO 8601; in the future, "
            "within a year).",
        )

    @extend_schema(
        operation_id="conversation_status",
        summary="Resolve, snooze (until a time) or reopen a conversation",
        parameters=[REF_PARAMETER],
        request=InputSerializer,
        responses={200: ConversationOutput, **NOT_FOUND_ERRORS},
        examples=[
            OpenApiExample("Resolve", value={"status": "resolved"}, request_only=True),
            OpenApiExample(
                "Snooze until Monday",
                value={"status": "snoozed", "until": "2030-01-07T09:00:00+05:30"},
                request_only=True,
            ),
        ],
    )
    def post(self, request, ref):
        conversation = conversation_or_404(request, ref)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            conversation = inbox.conversation_set_status(
                conversation=conversation, actor=request.user, status=values["status"], until=values["until"]
            )
        except inbox.InboxRefused as error:
            raise refused(error) from None
        return Response(ConversationOutput(conversation).data)


class ConversationMarkUnreadApi(ChatApi):
    @extend_schema_serializer(component_name="ConversationMarkUnreadOutput")
    class OutputSerializer(serializers.Serializer):
        unread_count = serializers.IntegerField(help_text="The badge now shown: at least 1.")

    @extend_schema(
        operation_id="conversation_mark_unread",
        summary="Mark a conversation unread, so its badge shows again (nothing is sent to WhatsApp)",
        parameters=[REF_PARAMETER],
        request=None,
        responses={200: OutputSerializer, **NOT_FOUND_ERRORS},
    )
    def post(self, request, ref):
        conversation = conversation_or_404(request, ref)
        inbox.conversation_mark_unread(conversation=conversation)
        return Response({"unread_count": conversation.unread_count})


class ConversationLabelsApi(ChatApi):
    @extend_schema_serializer(component_name="ConversationLabelInput")
    class InputSerializer(serializers.Serializer):
        label = TextField(max_length=32, help_text="The label's name, as made in the admin.")

    def _label(self, source):
        data = self.InputSerializer(data={"label": source["label"]} if "label" in source else {})
        data.is_valid(raise_exception=True)
        try:
            return inbox.label_by_name(data.validated_data["label"])
        except inbox.InboxRefused as error:
            raise refused(error) from None

    @extend_schema(
        operation_id="conversation_label_add",
        summary="Put a label on a conversation (nothing changes when it is already on)",
        parameters=[REF_PARAMETER],
        request=InputSerializer,
        responses={200: ConversationOutput, **NOT_FOUND_ERRORS},
        examples=[OpenApiExample("VIP", value={"label": "VIP"}, request_only=True)],
    )
    def post(self, request, ref):
        conversation = conversation_or_404(request, ref)
        label = self._label(request.data)
        inbox.conversation_label_add(conversation=conversation, actor=request.user, label=label)
        return Response(ConversationOutput(conversation).data)

    @extend_schema(
        operation_id="conversation_label_remove",
        summary="Take a label off a conversation (nothing changes when it is not on)",
        description="`label` as a query parameter or in a JSON body.",
        parameters=[REF_PARAMETER, OpenApiParameter("label", OpenApiTypes.STR, description="The label's name.")],
        request=InputSerializer,
        responses={200: ConversationOutput, **NOT_FOUND_ERRORS},
    )
    def delete(self, request, ref):
        conversation = conversation_or_404(request, ref)
        label = self._label(request.data if request.data else request.query_params)
        inbox.conversation_label_remove(conversation=conversation, actor=request.user, label=label)
        return Response(ConversationOutput(conversation).data)


class ConversationDisplayNameApi(ChatApi):
    @extend_schema_serializer(component_name="ConversationDisplayNameInput")
    class InputSerializer(serializers.Serializer):
        display_name = TextField(
            allow_blank=True,
            max_length=256,
            help_text="The name the team knows the contact by; WhatsApp's profile name never replaces it. "
            "Empty: show the profile name again.",
        )

    @extend_schema(
        operation_id="conversation_display_name",
        summary="Set the contact's display name (kept apart from their WhatsApp profile name)",
        parameters=[REF_PARAMETER],
        request=InputSerializer,
        responses={200: ConversationOutput, **NOT_FOUND_ERRORS},
        examples=[OpenApiExample("Asha at Madio", value={"display_name": "Asha Patel (Madio)"}, request_only=True)],
    )
    def post(self, request, ref):
        conversation = conversation_or_404(request, ref)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            conversation = inbox.conversation_rename(
                conversation=conversation, actor=request.user, name=data.validated_data["display_name"]
            )
        except inbox.InboxRefused as error:
            raise refused(error) from None
        return Response(ConversationOutput(conversation).data)


# --- Notes among staff -------------------------------------------------------------------


class NoteOutput(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    author = serializers.CharField(source="from_user.get_username", allow_null=True, default=None)
    body = serializers.CharField(source="message_body")
    created_at = serializers.DateTimeField()
    entity_links = EntityLinkOutput(many=True, source="entity_links.all")


class NotePageOutput(serializers.Serializer):
    results = NoteOutput(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null at the end.")


class ConversationNotesApi(ChatApi):
    @extend_schema_serializer(component_name="NoteInput")
    class InputSerializer(EntityInput):
        body = TextField(
            max_length=notes.NOTE_MAX,
            help_text=f"The note, up to {notes.NOTE_MAX} characters; an @username tells that colleague.",
        )

    @extend_schema(
        operation_id="conversation_notes",
        summary="A conversation's internal notes, newest first",
        parameters=[REF_PARAMETER, *PAGE_PARAMETERS],
        responses={200: NotePageOutput, **NOT_FOUND_ERRORS},
    )
    def get(self, request, ref):
        conversation = conversation_or_404(request, ref)
        rows, after = message_page(
            conversation=conversation,
            before=before_id(request),
            limit=page_limit(request),
            message_type=Message.Type.NOTE,
        )
        return messages_page_response(request, rows, after, output=NoteOutput)

    @extend_schema(
        operation_id="conversation_note_add",
        summary="Add an internal note to a conversation (staff only: never sent to WhatsApp)",
        parameters=[REF_PARAMETER, IDEMPOTENCY_HEADER],
        request=InputSerializer,
        responses={201: NoteOutput, **NOT_FOUND_ERRORS},
        examples=[
            OpenApiExample(
                "A word for Ravi, linked to a lead",
                value={"body": "@ravi they want the quote by Friday", "link_to_entity": "7", "entity_type": "lead"},
                request_only=True,
            )
        ],
    )
    def post(self, request, ref):
        conversation = conversation_or_404(request, ref)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            note = notes.note_add(
                conversation=conversation,
                author=request.user,
                body=values["body"],
                entity=values["entity"],
                idempotency_key=idempotency_key(request),
            )
        except inbox.InboxRefused as error:
            if error.field == "idempotency_key":
                raise ValidationError({"Idempotency-Key": [error.sentence]}) from None
            raise refused(error) from None
        return Response(NoteOutput(note).data, status=status.HTTP_201_CREATED)


class TemplateListApi(ChatApi):
    @extend_schema_serializer(component_name="TemplateListOutput")
    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        language = serializers.CharField()
        status = serializers.CharField()
        category = serializers.CharField()
        parameter_count = serializers.SerializerMethodField()
        components = serializers.JSONField()

        def get_parameter_count(self, template) -> int:
            return parameter_count(template.components)

    @extend_schema(
        operation_id="templates",
        summary="Message templates synced from WhatsApp Manager",
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, description="Only this status, e.g. APPROVED.")],
        responses={200: OutputSerializer(many=True), **ERRORS},
    )
    def get(self, request):
        status_filter = request.query_params.get("status", "")[:16]
        if "\x00" in status_filter:  # no template has one, and the database refuses to compare it
            raise ValidationError({"status": ["Filter by a status such as APPROVED."]})
        return Response(self.OutputSerializer(template_list(status=status_filter), many=True).data)
