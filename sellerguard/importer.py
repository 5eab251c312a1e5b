"""The canonical import: JSONL or CSV files of normalized records (optionally gzipped).

Two passes over each file, both streaming (constant memory): the first validates every line and stops at the
first bad one with file:line:field; only when every file is clean does the second pass write, in batches
inside one transaction, so a bad line or a failure mid-import leaves nothing behind.
See docs/import-format.md.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from sellerguard.errors import InputError
from sellerguard.schema import Record, parse_record
from sellerguard.store import Store

BATCH = 1000
Progress = Callable[[int], None]  # called with bytes read since the last call


@dataclass
class ImportResult:
    files: int = 0
    records: int = 0
    changed: int = 0


class _CountingReader(io.RawIOBase):
    """Counts compressed bytes read, so a progress bar can follow a .gz file by its size on disk."""

    def __init__(self, raw: IO[bytes], progress: Progress | None) -> None:
        self._raw = raw
        self._progress = progress

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()
        super().close()

    def readinto(self, b: Any) -> int:
        n = self._raw.readinto(b)  # type: ignore[attr-defined]
        if self._progress and n:
            self._progress(n)
        return n or 0


def _open_text(path: Path, progress: Progress | None) -> IO[str]:
    raw: IO[bytes] = io.BufferedReader(_CountingReader(path.open("rb"), progress))
    if path.suffix == ".gz":
        gz = gzip.GzipFile(fileobj=raw)
        gz.myfileobj = raw  # type: ignore[attr-defined]  # GzipFile closes only a file it owns: a corrupt .gz leaked it
        raw = gz  # type: ignore[assignment]
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def _format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffixes and suffixes[-1] == ".csv":
        return "csv"
    raise InputError("unknown format: name the file .jsonl, .csv, .jsonl.gz or .csv.gz", where=str(path))


def _field_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    if loc and loc[0] in ("order", "shipment", "cancellation", "message", "rating", "claim", "return",
                          "reported_metric"):
        loc = loc[1:]  # drop the discriminator tag pydantic puts first
    field = ".".join(loc) or "kind"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{field}: {msg}"


def _rows(path: Path, progress: Progress | None) -> Iterator[tuple[int, dict[str, Any]]]:
    fmt = _format(path)
    try:
        with _open_text(path, progress) as fh:
            if fmt == "jsonl":
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        data = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"not valid JSON: {exc.msg}", where=f"{path}:{lineno}") from None
                    if not isinstance(data, dict):
                        raise InputError("each line must be a JSON object", where=f"{path}:{lineno}")
                    yield lineno, data
            else:
                reader = csv.DictReader(fh)
                if not reader.fieldnames or "kind" not in reader.fieldnames:
                    raise InputError("the CSV header must include a 'kind' column", where=f"{path}:1")
                for row in reader:
                    if None in row:
                        raise InputError("more cells than header columns", where=f"{path}:{reader.line_num}")
                    # empty cells mean "no value", so one CSV can carry several record kinds
                    yield reader.line_num, {k: v for k, v in row.items() if v not in ("", None)}
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read: {exc}", where=str(path)) from None


def _records(path: Path, progress: Progress | None) -> Iterator[Record]:
    for lineno, data in _rows(path, progress):
        try:
            yield parse_record(data)
        except ValidationError as exc:
            raise InputError(_field_error(exc), where=f"{path}:{lineno}") from None


def validate_files(paths: list[Path], progress: Progress | None = None) -> int:
    """First pass: every record of every file must validate. Returns the number of records."""
    total = 0
    for path in paths:
        if not path.is_file():
            raise InputError("no such file", where=str(path))
        for _ in _records(path, progress):
            total += 1
    return total


def import_files(store: Store, paths: list[Path], progress: Progress | None = None) -> ImportResult:
    """Validate everything, then write everything in one transaction (all or nothing)."""
    result = ImportResult(files=len(paths))
    result.records = validate_files(paths, progress)
    with store.transaction() as tx:
        for path in paths:
            batch: list[Record] = []
            for record in _records(path, progress):
                batch.append(record)
                if len(batch) >= BATCH:
                    result.changed += tx.write(batch)
                    batch.clear()
            if batch:
                result.changed += tx.write(batch)
    return result
