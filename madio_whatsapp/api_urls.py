"""/api/whatsapp/...: the REST API for the ERP, one route table over the apps' API views
(chat.api: sends, conversations, stats, templates; links.api: entity links). The webhook lives in integrations.urls."""

from django.urls import path

from chat import api
from links import api as links_api

app_name = "api"
urlpatterns = [
    path("send-message", api.SendMessageApi.as_view(), name="send_message"),
    path("send-media", api.SendMediaApi.as_view(), name="send_media"),
    path("send-template", api.SendTemplateApi.as_view(), name="send_template"),
    path("send-location", api.SendLocationApi.as_view(), name="send_location"),
    path("send-contact", api.SendContactApi.as_view(), name="send_contact"),
    path("send-interactive", api.SendInteractiveApi.as_view(), name="send_interactive"),
    path(
        "entity-messages/<str:entity_type>/<str:entity_id>",
        links_api.EntityMessagesApi.as_view(),
        name="entity_messages",
    ),
    path("stats", api.StatsApi.as_view(), name="stats"),
    path("conversations", api.ConversationListApi.as_view(), name="conversations"),
    # <ref>: an id, a phone number or a WhatsApp user id (chat.selectors.conversations.conversation_ref).
    path("conversations/<str:ref>/messages", api.ConversationMessagesApi.as_view(), name="conversation_messages"),
    path("conversations/<str:ref>/mark-read", api.ConversationMarkReadApi.as_view(), name="conversation_mark_read"),
    path("conversations/<str:ref>/assign", api.ConversationAssignApi.as_view(), name="conversation_assign"),
    path("conversations/<str:ref>/status", api.ConversationStatusApi.as_view(), name="conversation_status"),
    path("conversations/<str:ref>/notes", api.ConversationNotesApi.as_view(), name="conversation_notes"),
    path("conversations/<str:ref>/labels", api.ConversationLabelsApi.as_view(), name="conversation_labels"),
    path(
        "conversations/<str:ref>/display-name",
        api.ConversationDisplayNameApi.as_view(),
        name="conversation_display_name",
    ),
    path(
        "conversations/<str:ref>/mark-unread", api.ConversationMarkUnreadApi.as_view(), name="conversation_mark_unread"
    ),
    path("messages/<int:pk>/links", links_api.MessageLinksApi.as_view(), name="message_links"),
    path("templates", api.TemplateListApi.as_view(), name="templates"),
]
