"""WSGI entry point (gunicorn pqlsite.wsgi)."""

import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pqlsite.settings")

application = get_wsgi_application()

# Import the URLconf, and with it every view, as the process starts: Django
# would do it on the first request, so the first hand-raise a fresh worker
# serves would wait for the imports.
import_module(settings.ROOT_URLCONF)
