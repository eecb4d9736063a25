"""Reads of message templates."""

from chat.models import MessageTemplate


def approved_templates():
    return list(MessageTemplate.objects.filter(status="APPROVED").order_by("name", "language"))


def template_list(*, status=""):
    rows = MessageTemplate.objects.all()
    if status:
        rows = rows.filter(status=status.upper())
    return list(rows.order_by("name", "language"))
