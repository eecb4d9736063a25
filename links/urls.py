from django.urls import path

from links import views

app_name = "links"
urlpatterns = [
    path("whatsapp-chat/m/<int:message_id>/link", views.message_link, name="message_link"),
    path("whatsapp-chat/m/<int:message_id>/unlink", views.message_unlink, name="message_unlink"),
    # path: ERP ids such as "INV/2026/7" may contain slashes.
    path("whatsapp-chat/entity/<str:entity_type>/<path:entity_id>/", views.entity, name="entity"),
    path("whatsapp-chat/entity/<str:entity_type>/<path:entity_id>/poll", views.entity_poll, name="entity_poll"),
    path("whatsapp-chat/entity/<str:entity_type>/<path:entity_id>/older", views.entity_older, name="entity_older"),
]
