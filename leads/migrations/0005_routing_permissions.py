from django.db import migrations

from leads.groups import SALES_MANAGERS, SALES_REPS, grant


def grant_routing(apps, schema_editor):
    grant(
        apps,
        group_name=SALES_MANAGERS,
        app_label="leads",
        codenames=[
            f"{action}_{model}"
            for model in ("team", "routingrule", "note")
            for action in ("add", "change", "delete", "view")
        ],
    )
    grant(apps, group_name=SALES_REPS, app_label="leads", codenames=["add_note", "view_note"])


class Migration(migrations.Migration):
    dependencies = [("leads", "0004_routing_and_notes")]

    operations = [migrations.RunPython(grant_routing, migrations.RunPython.noop)]
