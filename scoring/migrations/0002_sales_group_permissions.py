from django.db import migrations

from leads.groups import SALES_MANAGERS, SALES_REPS, grant


def grant_scoring(apps, schema_editor):
    editable = ["definition", "criterion", "milestone"]
    grant(
        apps,
        group_name=SALES_MANAGERS,
        app_label="scoring",
        codenames=[f"{action}_{model}" for model in editable for action in ("add", "change", "delete", "view")]
        + ["view_accountscore", "view_scoringrun", "view_definitionchange"],
    )
    grant(apps, group_name=SALES_REPS, app_label="scoring", codenames=["view_accountscore"])


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0001_initial"),
        ("leads", "0002_sales_groups"),
    ]

    operations = [migrations.RunPython(grant_scoring, migrations.RunPython.noop)]
