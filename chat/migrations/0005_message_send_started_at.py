from django.db import migrations, models
from django.db.models import F


def stamp_rows_already_sending(apps, schema_editor):
    """A row "sending" before this field existed may have reached WhatsApp: never re-send it."""
    Message = apps.get_model("chat", "Message")
    Message.objects.filter(status="sending", send_started_at=None).update(send_started_at=F("updated_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0004_message_stats_rollup"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="send_started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(stamp_rows_already_sending, migrations.RunPython.noop),
    ]
