from django.apps import AppConfig
from django.db.models.signals import post_migrate

from .groups import ensure_roles


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self):
        post_migrate.connect(ensure_roles, dispatch_uid="leads.ensure_roles")
