import shutil

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Empty PROMETHEUS_MULTIPROC_DIR; run before starting web and worker processes."

    def handle(self, *args, **options):
        directory = settings.PROMETHEUS_MULTIPROC_DIR
        for path in directory.iterdir() if directory.exists() else []:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        self.stdout.write(f"Emptied {directory}")
