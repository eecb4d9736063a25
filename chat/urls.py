from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("whatsapp-chat", views.page, name="page"),
    path("whatsapp-chat/conversations", views.sidebar, name="sidebar"),
    path("whatsapp-chat/new", views.new_chat, name="new_chat"),
    path("whatsapp-chat/new/send", views.new_chat_send, name="new_chat_send"),
    path("whatsapp-chat/templates/sync", views.templates_sync_view, name="templates_sync"),
    path("whatsapp-chat/template-fields", views.template_fields_view, name="template_fields"),
    path("whatsapp-chat/c/<int:pk>/", views.conversation, name="conversation"),
    path("whatsapp-chat/c/<int:pk>/poll", views.conversation_poll, name="conversation_poll"),
    path("whatsapp-chat/c/<int:pk>/older", views.conversation_older, name="conversation_older"),
    path("whatsapp-chat/c/<int:pk>/newer", views.conversation_newer, name="conversation_newer"),
    path("whatsapp-chat/c/<int:pk>/composer", views.composer, name="composer"),
    path("whatsapp-chat/c/<int:pk>/canned", views.canned_suggestions, name="canned_suggestions"),
    path("whatsapp-chat/c/<int:pk>/send", views.message_send, name="message_send"),
    path("whatsapp-chat/c/<int:pk>/assign", views.conversation_assign, name="conversation_assign"),
    path("whatsapp-chat/c/<int:pk>/status", views.conversation_status, name="conversation_status"),
    path("whatsapp-chat/c/<int:pk>/assignees", views.conversation_assignees, name="conversation_assignees"),
    path("whatsapp-chat/c/<int:pk>/unread", views.conversation_unread, name="conversation_unread"),
    path("whatsapp-chat/c/<int:pk>/labels", views.conversation_labels, name="conversation_labels"),
    path("whatsapp-chat/c/<int:pk>/label", views.conversation_label, name="conversation_label"),
    path("whatsapp-chat/c/<int:pk>/contact", views.conversation_contact, name="conversation_contact"),
    path("whatsapp-chat/c/<int:pk>/rename", views.conversation_rename, name="conversation_rename"),
    path("whatsapp-chat/c/<int:pk>/transcript", views.conversation_transcript, name="conversation_transcript"),
    path("whatsapp-chat/c/<int:pk>/export.csv", views.conversation_export_csv, name="conversation_export_csv"),
    path("whatsapp-chat/c/<int:pk>/note", views.note_add, name="note_add"),
    path("whatsapp-chat/c/<int:pk>/presence", views.conversation_presence, name="conversation_presence"),
    path("whatsapp-chat/c/<int:pk>/react", views.message_react, name="message_react"),
    path("whatsapp-chat/notifications", views.notification_settings, name="notification_settings"),
    path("whatsapp-chat/m/<int:message_id>/retry", views.message_retry, name="message_retry"),
    path("whatsapp-chat/media/<int:message_id>", views.media, name="media"),
]
