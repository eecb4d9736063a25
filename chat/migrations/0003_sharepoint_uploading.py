from datetime import timedelta

from django.db import migrations, models

# Before this migration a temporary failure that outlasted its retries was told apart by this
# prefix on sharepoint_error; it is now sharepoint_retry_at.
OLD_PREFIX = "Temporary failure, gave up after retries: "
SWEEP_FAILED_AFTER = timedelta(hours=6)


def retry_at_from_prefix(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    gave_up = Message.objects.filter(sharepoint_state="failed", sharepoint_error__startswith=OLD_PREFIX)
    for message in gave_up.only("pk", "sharepoint_error", "updated_at").iterator():
        Message.objects.filter(pk=message.pk).update(
            sharepoint_error=message.sharepoint_error[len(OLD_PREFIX) :],
            sharepoint_retry_at=message.updated_at + SWEEP_FAILED_AFTER,
        )


def prefix_from_retry_at(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    Message.objects.filter(sharepoint_state="uploading").update(sharepoint_state="pending")
    gave_up = Message.objects.filter(sharepoint_state="failed", sharepoint_retry_at__isnull=False)
    for message in gave_up.only("pk", "sharepoint_error").iterator():
        Message.objects.filter(pk=message.pk).update(sharepoint_error=OLD_PREFIX + message.sharepoint_error)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0002_agents_group"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="sharepoint_retry_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="message",
            name="sharepoint_state",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "Not applicable"),
                    ("pending", "Pending"),
                    ("uploading", "Uploading"),
                    ("uploaded", "Uploaded"),
                    ("failed", "Failed"),
                    ("disabled", "Disabled"),
                ],
                default="",
                max_length=16,
            ),
        ),
        migrations.RunPython(retry_at_from_prefix, prefix_from_retry_at),
    ]
