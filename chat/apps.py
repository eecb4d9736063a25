from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "WhatsApp chat"

    def ready(self):
        # Connects the signals that forget cached chat permissions when groups change.
        from chat import access  # noqa: F401
