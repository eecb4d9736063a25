"""Settings for the benchmark's gunicorn only: the product's settings plus benchmarks.urls.

Never used in production; benchmarks/run.py starts gunicorn with
DJANGO_SETTINGS_MODULE=benchmarks.settings.
"""

from madio_whatsapp.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
