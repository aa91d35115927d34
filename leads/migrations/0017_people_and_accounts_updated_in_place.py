"""Room on each page of people and accounts for their rows' updates, and no
pattern (LIKE) twins for the people's ids and email.

Every batch of events moves its people's seen times and its accounts' last
event time: columns no index holds, so PostgreSQL can update a row in place
(a HOT update, no index written) when its page has room. At the default
fillfactor of 100 it has none, and three updates in four wrote a new entry
in each of the people's eight indexes. The pattern twins serve only LIKE
'prefix%' searches, which nothing makes: ids and email are looked up exactly
(or case-insensitively, which no btree on the column serves).

The fillfactor applies to pages written from now on.
"""

from django.db import migrations

LIKE_INDEXES = {
    "leads_person_anonymous_id_9baddae7_like": "anonymous_id",
    "leads_person_email_1895587f_like": "email",
    "leads_person_external_id_a972025e_like": "external_id",
}
TABLES = ("leads_person", "leads_account")


def make_room(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # other databases have neither the fillfactor nor the pattern twins
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = 80)")
    for name in LIKE_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def take_room_back(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    for name, column in LIKE_INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON leads_person ({column} varchar_pattern_ops)")


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0016_fewer_indexes_rewritten_by_status_changes"),
    ]

    operations = [migrations.RunPython(make_room, take_room_back, elidable=False)]
