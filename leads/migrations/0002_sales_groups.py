from django.db import migrations

from leads.groups import SALES_MANAGERS, SALES_REPS, grant


def create_groups(apps, schema_editor):
    def perms(actions, models):
        return [f"{action}_{model}" for model in models for action in actions]

    grant(
        apps,
        group_name=SALES_MANAGERS,
        app_label="leads",
        codenames=perms(["add", "change", "delete", "view"], ["account", "person", "event", "salesrep"])
        + ["view_statuschange"],
    )
    grant(
        apps,
        group_name=SALES_REPS,
        app_label="leads",
        codenames=perms(["view"], ["account", "person", "event", "statuschange"]),
    )


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[SALES_MANAGERS, SALES_REPS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
