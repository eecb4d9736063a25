from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("whatsapp-chat", views.page, name="page"),
    path("whatsapp-chat/conversations", views.sidebar, name="sidebar"),
    path("whatsapp-chat/c/<int:pk>/", views.conversation, name="conversation"),
    path("whatsapp-chat/c/<int:pk>/poll", views.conversation_poll, name="conversation_poll"),
    path("whatsapp-chat/c/<int:pk>/older", views.conversation_older, name="conversation_older"),
    path("whatsapp-chat/c/<int:pk>/composer", views.composer, name="composer"),
    path("whatsapp-chat/c/<int:pk>/template-fields", views.template_fields, name="template_fields"),
    path("whatsapp-chat/c/<int:pk>/send", views.message_send, name="message_send"),
    path("whatsapp-chat/m/<int:message_id>/retry", views.message_retry, name="message_retry"),
    path("whatsapp-chat/m/<int:message_id>/link", views.message_link, name="message_link"),
    path("whatsapp-chat/m/<int:message_id>/unlink", views.message_unlink, name="message_unlink"),
    path("whatsapp-chat/media/<int:message_id>", views.media, name="media"),
    # path: ERP ids such as "INV/2026/7" may contain slashes.
    path("whatsapp-chat/entity/<str:entity_type>/<path:entity_id>/", views.entity, name="entity"),
    path("whatsapp-chat/entity/<str:entity_type>/<path:entity_id>/poll", views.entity_poll, name="entity_poll"),
    path("whatsapp-chat/entity/<str:entity_type>/<path:entity_id>/older", views.entity_older, name="entity_older"),
]
