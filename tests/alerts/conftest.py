"""Fixtures for the alerts' tests: real peers on 127.0.0.1."""

import pytest
from aiosmtpd.controller import Controller

from .peers import Inbox, SlackReceiver, free_port


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free 127.0.0.1 port, with the settings pointed at it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "pqlsite <alerts@pql.example>"
    settings.SITE_URL = "https://pql.example"
    yield inbox
    controller.stop()


@pytest.fixture
def slack():
    receiver = SlackReceiver()
    yield receiver
    receiver.stop()
