"""Import outcomes from a CRM export: who converted or was disqualified, and when."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leads.ingest.history.files import open_binary
from leads.ingest.history.outcomes import parse_rows, read_csv, record_past_outcomes


class Command(BaseCommand):
    help = (
        "Record past outcomes from a CSV file (columns: external_id or domain, outcome "
        "converted/disqualified, date, reason) in the status history with their real dates and "
        "cause import. A later status recorded by pqlsite is never overwritten; importing the same "
        "file again records nothing twice. gzip is read directly."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, metavar="FILE.csv")
        parser.add_argument(
            "--rejects", type=Path, default=None,
            help="Where refused rows go (JSON Lines). Default: FILE.rejects.jsonl beside the file.",
        )

    def handle(self, *args, file, rejects, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        stream, raw = open_binary(file)
        with stream, raw:
            try:
                outcomes, refused = parse_rows(read_csv(stream))
            except ValueError as error:
                raise CommandError(f"{file}: {error}") from None
        done = record_past_outcomes(outcomes)
        rows, rejected = len(outcomes) + len(refused), len(refused)
        refused += [{"line": kept["line"], "errors": [kept["why"]]} for kept in done.kept]
        refused.sort(key=lambda reject: reject["line"])
        for reject in refused:
            self.stdout.write(f"  line {reject['line']}: {'; '.join(reject['errors'])}")
        rejects_path = rejects or file.with_name(file.name + ".rejects.jsonl")
        if refused:
            with open(rejects_path, "w", encoding="utf-8") as out:
                for reject in refused:
                    out.write(json.dumps({"file": str(file), **reject}, ensure_ascii=False) + "\n")
            self.stdout.write(f"  every row not recorded is in {rejects_path}")
        else:
            rejects_path.unlink(missing_ok=True)
        self.stdout.write(
            f"rows={rows} recorded={done.recorded} already={done.already} "
            f"kept_later={len(done.kept)} rejected={rejected}"
        )
