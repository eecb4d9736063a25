"""The GIN index behind the search for words in messages (chat.selectors.search), on PostgreSQL only.

The embedded SQLite default has no GIN indexes; its search scans. The index is kept out of the
model's Meta for the same reason, so this operation is the only place it is named.
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

from chat.selectors.search import text_vector

INDEX = GinIndex(text_vector(), name="message_text_search_idx")


def on_postgresql(action):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            action(schema_editor, apps.get_model("chat", "Message"))

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0007_conversation_last_message"),
    ]

    operations = [
        migrations.RunPython(
            on_postgresql(lambda editor, model: editor.add_index(model, INDEX)),
            on_postgresql(lambda editor, model: editor.remove_index(model, INDEX)),
        ),
    ]
