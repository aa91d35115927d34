from django.contrib.admin.apps import AdminConfig


class SalesOpsAdminConfig(AdminConfig):
    default_site = "pqlsite.admin_site.SalesOpsAdminSite"
