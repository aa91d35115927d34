"""Import a customer's event history from files (JSON Lines in Segment's
message format, or CSV with a column mapping), then rescore every account once."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm

from leads.ingest.history.files import CsvMapping
from leads.ingest.history.store import CHUNK_SIZE, Counts, import_file
from leads.models import Source
from scoring.rescoring import rescore_all

# Refused rows printed in the summary; the rejects file has them all.
SHOWN_REJECTS = 20


class Command(BaseCommand):
    help = (
        "Import events from JSON Lines (Segment's message format: track, identify, group, page, "
        "screen, alias) or CSV files, gzipped or not, validated as live calls are. Events already "
        "stored (same messageId for the source) are skipped; rows without a messageId get one "
        "derived from their content. Refused rows go to a rejects file with their line number. "
        "Run again after an interruption: it resumes where it stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument("--source", required=True, help="Slug of the source the events belong to.")
        parser.add_argument(
            "--map", action="append", default=[], metavar="FIELD=COLUMN",
            help="CSV: the column of a field (user_id, anonymous_id, account_id, event, timestamp, "
            "message_id). Columns with those names need no --map.",
        )
        parser.add_argument(
            "--properties", default="columns", metavar="json:COLUMN|columns|none",
            help="CSV: properties from one column of JSON objects, from every unmapped column "
            "(the default), or none.",
        )
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help="Rows stored per transaction.")
        parser.add_argument(
            "--workers", type=int, default=0,
            help="Processes that validate rows while this one stores them. Default 0: rows are validated "
            "here, while the database stores the chunk before (a process of its own costs more in handing "
            "the rows over than it saves on a machine of two cores).",
        )
        parser.add_argument(
            "--rejects", type=Path, default=None,
            help="Where refused rows go (JSON Lines). Default: FILE.rejects.jsonl beside each file.",
        )
        parser.add_argument("--no-rescore", action="store_true", help="Leave the full rescore for later.")

    def handle(self, *args, files, source, map, properties, chunk_size, workers, rejects, no_rescore, **options):
        if connection.vendor != "postgresql":
            raise CommandError("import_events needs PostgreSQL (COPY into a staging table).")
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        try:
            mapping = CsvMapping.parse(map, properties)
        except ValueError as error:
            raise CommandError(str(error)) from None
        found = Source.objects.filter(slug=source).first()
        if found is None:
            slugs = ", ".join(Source.objects.values_list("slug", flat=True)) or "none yet: add one in the admin"
            raise CommandError(f"No source {source!r}. Sources: {slugs}.")
        for path in files:
            if not path.is_file():
                raise CommandError(f"{path}: no such file.")

        total = Counts()
        for path in files:
            with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=path.name,
                      disable=None, file=self.stderr) as bar:
                try:
                    counts = import_file(path, source=found, mapping=mapping, chunk_size=chunk_size,
                                         workers=workers, progress=bar.update)
                except ValueError as error:  # a CSV mapping that does not fit the header
                    raise CommandError(f"{path}: {error}") from None
            rejects_path = rejects or path.with_name(path.name + ".rejects.jsonl")
            self.report(path, counts, rejects_path if counts.rejects else None)
            write_rejects(rejects_path, path, counts.rejects, append=rejects is not None and total.read > 0)
            total.add(counts)

        if total.stored and not no_rescore:
            self.stdout.write("Rescoring every account once...")
            run = rescore_all(reason="history import")
            self.stdout.write(
                f"Rescored {run.accounts_scored} accounts: {run.results_changed} results changed, "
                f"{run.statuses_changed} statuses changed."
            )
        self.stdout.write(
            f"read={total.read} stored={total.stored} pending={total.pending} profiles={total.profiles} "
            f"duplicates={total.duplicates} rejected={total.rejected}"
        )

    def report(self, path: Path, counts: Counts, rejects_path: Path | None) -> None:
        self.stdout.write(
            f"{path}: {counts.read} rows read, {counts.stored} events stored, {counts.pending} waiting "
            f"for their person's account, {counts.profiles} identify/group/alias calls applied, "
            f"{counts.duplicates} duplicates skipped, {counts.rejected} refused."
        )
        for reject in counts.rejects[:SHOWN_REJECTS]:
            self.stdout.write(f"  line {reject['line']}: {'; '.join(reject['errors'])}")
        if rejects_path is not None:
            more = counts.rejected - SHOWN_REJECTS
            self.stdout.write(("  ... and {more} more; " if more > 0 else "  ").format(more=more)
                              + f"every refused row is in {rejects_path}")


def write_rejects(path: Path, source_file: Path, rejects: list[dict], *, append: bool) -> None:
    """One JSON object a line: file, line, errors, row. Rewritten on each run
    (a resumed run reports the skipped chunks' rejects again)."""
    if not rejects and not append:
        path.unlink(missing_ok=True)
        return
    with open(path, "a" if append else "w", encoding="utf-8") as out:
        for reject in rejects:
            out.write(json.dumps({"file": str(source_file), **reject}, ensure_ascii=False) + "\n")
