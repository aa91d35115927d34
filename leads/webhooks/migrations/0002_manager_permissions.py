from django.db import migrations

from leads.groups import SALES_MANAGERS, grant


def grant_webhooks(apps, schema_editor):
    grant(
        apps,
        group_name=SALES_MANAGERS,
        app_label="webhooks",
        codenames=[
            *(f"{action}_endpoint" for action in ("add", "change", "delete", "view")),
            "view_delivery",
            "change_delivery",  # replay
            "view_attempt",
        ],
    )


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_endpoints_and_deliveries")]

    operations = [migrations.RunPython(grant_webhooks, migrations.RunPython.noop)]
