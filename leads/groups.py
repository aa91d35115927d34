"""The two roles of the product and their model permissions.

Kept in one place so migrations of later apps can extend the same groups.
"""

from django.apps import apps as installed_apps
from django.db import DEFAULT_DB_ALIAS

SALES_MANAGERS = "Sales managers"
SALES_REPS = "Sales reps"


def _crud(*models: str) -> list[str]:
    return [f"{action}_{model}" for model in models for action in ("add", "change", "delete", "view")]


# What each role may do, by app label: what the data migrations granted, in
# one table. ensure_roles keeps the groups holding at least these.
ROLE_PERMISSIONS: dict[str, dict[str, list[str]]] = {
    SALES_MANAGERS: {
        "leads": [
            *_crud("account", "person", "event", "salesrep", "team", "routingrule", "note", "source"),
            "view_statuschange",
            "view_pendingevent",
            "view_outboxmessage",
            "view_outboxbatch",
        ],
        "scoring": [
            *_crud("definition", "criterion", "milestone"),
            "view_accountscore",
            "view_scoringrun",
            "view_definitionchange",
        ],
        "webhooks": [*_crud("endpoint"), "view_delivery", "change_delivery", "view_attempt"],
        "alerts": _crud("manageralerts"),
    },
    SALES_REPS: {
        "leads": ["view_account", "view_person", "view_event", "view_statuschange", "add_note", "view_note"],
        "scoring": ["view_accountscore"],
    },
}


def ensure_roles(sender, *, apps=installed_apps, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate, once per app: the roles' groups exist and hold at least
    the app's permissions in ROLE_PERMISSIONS (auth created those just
    before). A flushed database (a test's) gets its roles back the same way."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, by_app in ROLE_PERMISSIONS.items():
        codenames = by_app.get(sender.label)
        if not codenames:
            continue
        permissions = list(
            Permission.objects.using(using).filter(content_type__app_label=sender.label, codename__in=codenames)
        )
        missing = set(codenames) - {permission.codename for permission in permissions}
        if missing:
            raise LookupError(f"Unknown permissions for {sender.label}: {sorted(missing)}")
        group, _ = Group.objects.using(using).get_or_create(name=group_name)
        group.permissions.add(*permissions)


def grant(apps, *, group_name, app_label, codenames):
    """Give a group model permissions, creating the app's permissions first:
    post_migrate has not run yet inside a migration."""
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config(app_label)
    # Migration state app configs carry no models module; create_permissions
    # only checks that it is set.
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=group_name)
    permissions = Permission.objects.filter(
        content_type__app_label=app_label, codename__in=codenames
    )
    missing = set(codenames) - set(permissions.values_list("codename", flat=True))
    if missing:
        raise LookupError(f"Unknown permissions for {app_label}: {sorted(missing)}")
    group.permissions.add(*permissions)
