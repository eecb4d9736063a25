"""Celery's one route table: sends, read receipts and typing indicators on "whatsapp", SharePoint on
"sharepoint", others "default"."""

import chat.tasks  # noqa: F401 - registers the tasks
import integrations.tasks  # noqa: F401
from madio_whatsapp.celery import app

QUEUES = {
    "message_send_task": "whatsapp",
    "message_mark_read_task": "whatsapp",
    "message_typing_task": "whatsapp",
    "sharepoint_backup_task": "sharepoint",
    "sharepoint_sweep_task": "sharepoint",
}


def test_every_task_goes_to_its_queue():
    names = [name for name in app.tasks if name.startswith(("integrations.tasks.", "chat.tasks."))]
    assert {f"integrations.tasks.{task}" for task in QUEUES} <= set(names)
    for name in names:
        queue = app.amqp.router.route({}, name)["queue"].name
        assert queue == QUEUES.get(name.rsplit(".", 1)[1], "default"), name


def test_every_scheduled_task_exists():
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks
