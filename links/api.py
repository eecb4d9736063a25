"""The REST API's entity-link operations: the messages about one ERP record, and linking a message to one.

Same conventions as chat.api (JWT, the chat permission, errors naming the field), whose shared
shapes they use.
"""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from chat.api import (
    ERRORS,
    PAGE_PARAMETERS,
    EntityLinkOutput,
    ErrorOutput,
    MessagePageOutput,
    before_id,
    messages_page_response,
)
from chat.api_base import ChatApi, TextField, page_limit
from chat.models import Message
from links import selectors
from links.services import InvalidEntity, check_entity, entity_link_create, entity_link_delete


class EntityMessagesApi(ChatApi):
    @extend_schema_serializer(component_name="EntityMessagesOutput")
    class OutputSerializer(MessagePageOutput):
        entity_type = serializers.CharField()
        entity_id = serializers.CharField()

    @extend_schema(
        operation_id="entity_messages",
        summary="Messages linked to an ERP record, newest first",
        parameters=PAGE_PARAMETERS,
        responses={200: OutputSerializer, **ERRORS},
    )
    def get(self, request, entity_type, entity_id):
        try:
            entity_type, entity_id = check_entity(entity_type, entity_id)
        except InvalidEntity as error:
            field = "entity_type" if entity_type not in settings.ENTITY_TYPES else "entity_id"
            raise ValidationError({field: [str(error)]}) from None
        rows, after = selectors.entity_message_page(
            entity_type=entity_type, entity_id=entity_id, before=before_id(request), limit=page_limit(request)
        )
        response = messages_page_response(request, rows, after)
        response.data = {"entity_type": entity_type, "entity_id": entity_id, **response.data}
        return response


class MessageLinksApi(ChatApi):
    @extend_schema_serializer(component_name="MessageLinksInput")
    class InputSerializer(serializers.Serializer):
        entity_type = TextField(max_length=32, help_text="One of ENTITY_TYPES (project, petty_cash, lead, employee).")
        entity_id = TextField(max_length=64)

        def validate(self, attrs):
            try:
                attrs["entity_type"], attrs["entity_id"] = check_entity(attrs["entity_type"], attrs["entity_id"])
            except InvalidEntity as error:
                field = "entity_type" if attrs["entity_type"] not in settings.ENTITY_TYPES else "entity_id"
                raise ValidationError({field: [str(error)]}) from None
            return attrs

    @extend_schema_serializer(component_name="MessageLinksOutput")
    class OutputSerializer(EntityLinkOutput):
        message_id = serializers.IntegerField()

    def message(self, request, pk):
        message = Message.objects.filter(pk=pk).first()
        if message is None:
            raise NotFound(f"There is no message with id {pk}.")
        return message

    @extend_schema(
        operation_id="message_link_create",
        summary="Link a message to an ERP record",
        request=InputSerializer,
        responses={201: OutputSerializer, 404: OpenApiResponse(ErrorOutput), **ERRORS},
    )
    def post(self, request, pk):
        message = self.message(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        link = entity_link_create(message=message, user=request.user, **data.validated_data)
        return Response(self.OutputSerializer(link).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="message_link_delete",
        summary="Remove a message's link to an ERP record",
        description="entity_type and entity_id as query parameters or in a JSON body.",
        parameters=[
            OpenApiParameter("entity_type", OpenApiTypes.STR),
            OpenApiParameter("entity_id", OpenApiTypes.STR),
        ],
        request=InputSerializer,
        responses={204: None, 404: OpenApiResponse(ErrorOutput), **ERRORS},
    )
    def delete(self, request, pk):
        message = self.message(request, pk)
        source = request.data if request.data else request.query_params
        data = self.InputSerializer(
            data={key: source.get(key) for key in ("entity_type", "entity_id") if key in source}
        )
        data.is_valid(raise_exception=True)
        if not entity_link_delete(message=message, **data.validated_data):
            raise NotFound("This message is not linked to that record.")
        return Response(status=status.HTTP_204_NO_CONTENT)
