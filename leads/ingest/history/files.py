"""Reading history files: JSON Lines in Segment's message format, or CSV with
a column mapping turned into the same messages; gzip read directly. Each row
comes with its line number, so a refused row can be found in the file."""

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

GZIP_MAGIC = b"\x1f\x8b"
# How much of the start and end of a file identifies it (with its size).
IDENTITY_BYTES = 1 << 20
# JSON Lines are read in blocks of this many (decompressed) bytes.
READ_BLOCK = 1 << 20
# Message fields a CSV column can be mapped to, and where they go in the message.
CSV_FIELDS = {
    "message_id": "messageId",
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "account_id": "groupId",  # context.groupId: the account the event belongs to
    "event": "event",
    "timestamp": "timestamp",
}
# A column holding one of these names is mapped to the field without --map.
CSV_DEFAULT_COLUMNS = {
    "message_id": ("message_id", "messageId", "id"),
    "user_id": ("user_id", "userId"),
    "anonymous_id": ("anonymous_id", "anonymousId"),
    "account_id": ("account_id", "group_id", "groupId", "context_group_id"),
    "event": ("event", "event_name", "name"),
    "timestamp": ("timestamp", "occurred_at", "time"),
}


class RowProblem(ValueError):
    """A row that cannot become a message at all (not JSON, a bad CSV cell)."""


@dataclass(frozen=True)
class CsvMapping:
    """Which CSV column holds each message field, and where properties come
    from: one column of JSON objects (`json:COLUMN`), every unmapped column
    (`columns`), or none."""

    columns: dict[str, str] = field(default_factory=dict)
    properties: str = "columns"

    @classmethod
    def parse(cls, maps: list[str], properties: str = "columns") -> "CsvMapping":
        columns = {}
        for item in maps:
            name, equals, column = item.partition("=")
            name = name.strip()
            if not equals or not column.strip():
                raise ValueError(f"--map {item!r}: write FIELD=COLUMN, e.g. user_id=uid")
            if name not in CSV_FIELDS:
                raise ValueError(f"--map {item!r}: FIELD is one of {', '.join(CSV_FIELDS)}")
            columns[name] = column.strip()
        if properties not in ("columns", "none") and not (
            properties.startswith("json:") and properties[5:].strip()
        ):
            raise ValueError("--properties is json:COLUMN, columns or none")
        return cls(columns=columns, properties=properties)

    def resolve(self, header: list[str]) -> dict[str, str]:
        """The column of each field present in this header."""
        resolved = {}
        for name, candidates in CSV_DEFAULT_COLUMNS.items():
            if name in self.columns:
                if self.columns[name] not in header:
                    raise ValueError(f"--map {name}={self.columns[name]}: no such column in the header")
                resolved[name] = self.columns[name]
            else:
                found = next((column for column in candidates if column in header), None)
                if found is not None:
                    resolved[name] = found
        if self.properties.startswith("json:") and self.properties[5:] not in header:
            raise ValueError(f"--properties {self.properties}: no such column in the header")
        return resolved

    def as_key(self) -> str:
        return json.dumps([sorted(self.columns.items()), self.properties])


def open_binary(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """The file's decompressed bytes (gzip detected by its magic number, not
    its name) and the raw file underneath, whose position tells progress."""
    raw = open(path, "rb")  # noqa: SIM115 - the caller closes both
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw
    raw.seek(0)
    return raw, raw


def file_identity(path: Path) -> str:
    """The file's size and a hash of its first and last megabyte: the same
    file, wherever it was copied, is the same file; an edited one is not."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as raw:
        digest.update(raw.read(IDENTITY_BYTES))
        if size > IDENTITY_BYTES:
            raw.seek(max(IDENTITY_BYTES, size - IDENTITY_BYTES))
            digest.update(raw.read(IDENTITY_BYTES))
    return digest.hexdigest()


def is_csv(path: Path) -> bool:
    suffixes = [suffix.lower() for suffix in path.suffixes]
    return "csv" in {suffix.lstrip(".") for suffix in suffixes[-2:]}


def jsonl_rows(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of each non-blank line, the file read a block at a
    time (a gzip stream read a line at a time costs more than the rest of
    reading)."""
    number, rest = 0, b""
    while block := stream.read(READ_BLOCK):
        lines = (rest + block).split(b"\n") if rest else block.split(b"\n")
        rest = lines.pop()
        for line in lines:
            number += 1
            if line.strip():
                yield number, line
    if rest.strip():
        yield number + 1, rest


def csv_rows(stream: IO[bytes], mapping: CsvMapping) -> Iterator[tuple[int, dict | RowProblem]]:
    """(line number where the record starts, track message) of each record
    after the header; a row that cannot be read is a RowProblem instead."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        yield from _csv_rows(csv.reader(text), mapping)
    finally:
        text.detach()  # the caller closes the stream (and still reads its position)


def _csv_rows(reader, mapping: CsvMapping) -> Iterator[tuple[int, dict | RowProblem]]:
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        return
    columns = mapping.resolve(header)
    json_column = mapping.properties[5:] if mapping.properties.startswith("json:") else None
    mapped = set(columns.values()) | ({json_column} if json_column else set())
    extra = [(i, column) for i, column in enumerate(header) if column not in mapped and column]
    position = {column: i for i, column in enumerate(header)}
    start = reader.line_num + 1
    for record in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > len(header):
            yield line, RowProblem(f"{len(record)} cells where the header has {len(header)}")
            continue
        record = record + [""] * (len(header) - len(record))
        try:
            yield line, csv_message(record, columns=columns, position=position,
                                    json_column=json_column, extra=extra, mapping=mapping)
        except RowProblem as problem:
            yield line, problem


def csv_message(record, *, columns, position, json_column, extra, mapping) -> dict:
    """A track message from one CSV record. Empty cells are absent values."""
    message: dict[str, Any] = {"type": "track"}
    for name, column in columns.items():
        value = record[position[column]].strip()
        if not value:
            continue
        if name == "account_id":
            message["context"] = {"groupId": value}
        else:
            message[CSV_FIELDS[name]] = value
    if json_column is not None:
        cell = record[position[json_column]].strip()
        if cell:
            try:
                message["properties"] = json.loads(cell)
            except ValueError as error:
                raise RowProblem(f"properties: column {json_column} is not valid JSON ({error})") from None
    elif mapping.properties == "columns":
        message["properties"] = {column: record[i] for i, column in extra if record[i] != ""}
    return message
