"""Who may use the API: the sales people, and managers for what changes things.

Each reads the roles looked up once for the request (leads.access.RolesMiddleware).
"""

from rest_framework import permissions

from leads.access import roles_for


class SalesPeople(permissions.BasePermission):
    """Managers and reps; anyone else signed in gets 403."""

    message = "This API is for sales managers and reps."

    def has_permission(self, request, view):
        return roles_for(request).is_sales_person


class Managers(permissions.BasePermission):
    message = "Only sales managers may do this."

    def has_permission(self, request, view):
        return roles_for(request).is_manager


class ManagersWrite(permissions.BasePermission):
    """Reading for every sales person, changing for managers only."""

    message = "Only sales managers may change this."

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or roles_for(request).is_manager
