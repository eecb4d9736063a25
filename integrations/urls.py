from django.urls import path

from integrations import webhook

app_name = "integrations"
urlpatterns = [
    path("api/whatsapp/webhook", webhook.webhook, name="webhook"),
]
