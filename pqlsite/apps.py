"""The admin app with pqlsite's own site (see leads.admin_site)."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "leads.admin_site.SalesAdminSite"
