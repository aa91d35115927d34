"""The admin site: for sales managers and superusers only.

Staff status alone is not enough: a rep made staff by mistake would see every
account through the model permissions their group holds. The admin is kept
to the role that may see the whole book, whatever flags a user carries.
"""

from django.contrib import admin

from .access import roles_for


class SalesAdminSite(admin.AdminSite):
    site_header = "pqlsite"
    site_title = "pqlsite admin"
    index_title = "Leads and scoring"

    def has_permission(self, request):
        return super().has_permission(request) and roles_for(request).is_manager
