"""`pk__any=ids` (or `account__any=ids`): `id = ANY(%s)` with the ids as one
array parameter.

`pk__in` writes one placeholder per id: for the thousands of accounts a
rescore moves, Django prepares each value and psycopg scans a query string
of tens of thousands of placeholders, which cost more than running the
statement. Other databases get the plain IN list.
"""

from django.core.exceptions import EmptyResultSet
from django.db import models
from django.db.models import Lookup


@models.ForeignKey.register_lookup
@models.IntegerField.register_lookup
class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [[int(item) for item in value]]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        _, (ids,) = self.process_rhs(compiler, connection)
        if not ids:
            raise EmptyResultSet  # as pk__in=[]: the query is not even sent
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, ids]
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", [*lhs_params, *ids]
