"""Who may use the API: the sales people, and managers for what changes things."""

from rest_framework import permissions

from leads.access import is_manager, rep_of


class SalesPeople(permissions.BasePermission):
    """Managers and reps; anyone else signed in gets 403."""

    message = "This API is for sales managers and reps."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (is_manager(user) or rep_of(user)))


class Managers(permissions.BasePermission):
    message = "Only sales managers may do this."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and is_manager(request.user))


class ManagersWrite(permissions.BasePermission):
    """Reading for every sales person, changing for managers only."""

    message = "Only sales managers may change this."

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or is_manager(request.user)
