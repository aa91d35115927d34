"""WSGI entry point (gunicorn pqlsite.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pqlsite.settings")

application = get_wsgi_application()
