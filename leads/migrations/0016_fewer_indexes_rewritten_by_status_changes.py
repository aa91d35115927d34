"""Indexes a status change writes again for every moved account or history
row, and no query reads: the single-column ones a composite index covers,
and the pattern (LIKE) twins Django makes for the account's domain and
external id, which are only ever looked up exactly (searches by domain are
substring searches no btree serves)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0015_outbox_lighter_rows'),
    ]

    operations = [
        migrations.RunSQL(
            "DROP INDEX IF EXISTS leads_account_domain_602c1124_like",
            "CREATE INDEX leads_account_domain_602c1124_like ON leads_account (domain varchar_pattern_ops)",
            elidable=False,
        ),
        migrations.RunSQL(
            "DROP INDEX IF EXISTS leads_account_external_id_a0353269_like",
            "CREATE INDEX leads_account_external_id_a0353269_like ON leads_account (external_id varchar_pattern_ops)",
            elidable=False,
        ),
        migrations.AlterField(
            model_name='account',
            name='owner',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='accounts', to='leads.salesrep'),
        ),
        migrations.AlterField(
            model_name='statuschange',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='status_changes', to='leads.account'),
        ),
    ]
