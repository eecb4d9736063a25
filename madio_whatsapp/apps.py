from django.apps import AppConfig


class MadioWhatsAppConfig(AppConfig):
    """Project-wide pieces that belong to no one app: the login lockout's wiring."""

    name = "madio_whatsapp"
    verbose_name = "Madio WhatsApp"

    def ready(self):
        from madio_whatsapp import security  # noqa: F401  (connects its signal receiver)
