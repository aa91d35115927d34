from django.db import migrations

from leads.groups import SALES_MANAGERS, grant


def grant_alerts(apps, schema_editor):
    grant(
        apps,
        group_name=SALES_MANAGERS,
        app_label="alerts",
        codenames=[f"{action}_manageralerts" for action in ("add", "change", "delete", "view")],
    )
    # The outbox in the admin, read-only (its re-queue needs the webhook deliveries' replay right).
    grant(apps, group_name=SALES_MANAGERS, app_label="leads", codenames=["view_outboxmessage"])


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
        ("leads", "0011_outbox_and_alert_settings"),
    ]

    operations = [migrations.RunPython(grant_alerts, migrations.RunPython.noop)]
