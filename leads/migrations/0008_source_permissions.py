from django.db import migrations

from leads.groups import SALES_MANAGERS, grant


def grant_sources(apps, schema_editor):
    grant(
        apps,
        group_name=SALES_MANAGERS,
        app_label="leads",
        codenames=[f"{action}_source" for action in ("add", "change", "delete", "view")]
        + ["view_pendingevent"],
    )


class Migration(migrations.Migration):
    dependencies = [("leads", "0007_sources_and_pending_events")]

    operations = [migrations.RunPython(grant_sources, migrations.RunPython.noop)]
