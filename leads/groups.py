"""The two roles of the product and their model permissions.

Kept in one place so migrations of later apps can extend the same groups.
"""

SALES_MANAGERS = "Sales managers"
SALES_REPS = "Sales reps"


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
