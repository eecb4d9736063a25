import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def point_at_the_newest_message(apps, schema_editor):
    """Each conversation's preview is its newest customer-facing message (notes and activity lines never are)."""
    Conversation = apps.get_model("chat", "Conversation")
    Message = apps.get_model("chat", "Message")
    newest = (
        Message.objects.filter(conversation=OuterRef("pk"))
        .exclude(direction="internal")
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    Conversation.objects.update(last_message=Subquery(newest))


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0006_team_inbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="last_message",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="chat.message",
            ),
        ),
        migrations.RunPython(point_at_the_newest_message, migrations.RunPython.noop),
    ]
