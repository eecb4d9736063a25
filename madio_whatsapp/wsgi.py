import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "madio_whatsapp.settings")
application = get_wsgi_application()

from madio_whatsapp.celery import warm_up_publisher  # noqa: E402 - needs the settings above

warm_up_publisher()
