from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    """The local stand-in for Meta's WhatsApp Cloud API; an app only for its `whatsapp_simulator` command."""

    name = "simulator"
    verbose_name = "WhatsApp Cloud API simulator"
