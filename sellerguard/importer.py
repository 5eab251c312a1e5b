"""The canonical import: JSONL or CSV files of normalized records (optionally gzipped).

Two passes over each file, both streaming (constant memory): the first validates every line and stops at the
first bad one with file:line:field; only when every file is clean does the second pass write, in batches
inside one transaction, so a bad line, a corrupt .gz or a failure mid-import leaves nothing behind.

Text is UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8" writes one); any other encoding is one
error naming the line and the encoding expected. An order may carry ``buyer_key`` (already the 64-hex HMAC) or
``buyer_id`` (the marketplace's raw buyer id), which is replaced here by its key made with the store's secret
(``sellerguard.keys``) before anything is validated or stored: the raw id never reaches the store.

Accounts are registered so ``status`` shows them: an ``account`` line (``{"kind": "account", "id", "marketplace",
"region", "display_name"}``) registers its account; ``marketplace=`` (``import --marketplace``) registers every
other account of the files that neither the config nor the store knows. Accounts still unknown are listed in the
result (``unregistered``): their records are stored but no status can judge them until they are registered.
See docs/import-format.md.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from sellerguard import keys, pseudonym
from sellerguard.errors import InputError
from sellerguard.schema import Account, Record, parse_record
from sellerguard.store import Store

BATCH = 1000
Progress = Callable[[int], None]  # called with bytes read since the last call


@dataclass
class ImportResult:
    files: int = 0
    records: int = 0  # records validated and written (account lines are not records)
    changed: int = 0
    registered: dict[str, str] = field(default_factory=dict)  # account id -> marketplace, registered by this import
    unregistered: list[str] = field(default_factory=list)  # accounts of the records that no status can show yet


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


def _open_bytes(path: Path, progress: Progress | None) -> IO[bytes]:
    raw: IO[bytes] = io.BufferedReader(_CountingReader(path.open("rb"), progress))
    if path.suffix.lower() == ".gz":
        gz = gzip.GzipFile(fileobj=raw)
        gz.myfileobj = raw  # type: ignore[attr-defined]  # GzipFile closes only a file it owns: a corrupt .gz leaked it
        raw = gz  # type: ignore[assignment]
    return raw


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)


def _lines(path: Path, fh: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, text) per line, decoded as UTF-8 one line at a time so an error names its line.

    A UTF-8 byte-order mark before the first line is dropped; a UTF-16/32 one is refused by name (Excel's
    "Unicode Text"). Line endings are kept (the csv module needs them for quoted newlines).
    """
    for lineno, raw in enumerate(fh, start=1):
        if lineno == 1:
            if raw.startswith(_UTF16_BOMS):
                raise InputError("the file is UTF-16/UTF-32 text; save it as UTF-8 (Excel: 'CSV UTF-8')",
                                 where=f"{path}:1")
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            yield lineno, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start:exc.start + 1].hex()
            raise InputError(f"not UTF-8 text: byte 0x{bad} at column {exc.start + 1} cannot be decoded; "
                             f"save the file as UTF-8 (Excel: 'CSV UTF-8')", where=f"{path}:{lineno}") from None


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
    if err["type"] not in ("value_error", "missing", "extra_forbidden", "union_tag_invalid", "union_tag_not_found",
                           "model_type", "model_attributes_type") and not isinstance(err.get("input"), dict):
        value = repr(err.get("input"))  # pydantic's own messages do not say what was given
        msg = f"{msg} (value {value if len(value) <= 200 else value[:199] + '…'})"
    return f"{field}: {msg}"


def _rows(path: Path, progress: Progress | None) -> Iterator[tuple[int, dict[str, Any]]]:
    fmt = _format(path)
    try:
        with _open_bytes(path, progress) as fh:
            lines = _lines(path, fh)
            if fmt == "jsonl":
                for lineno, line in lines:
                    if not line.strip():
                        continue
                    try:
                        data = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"not valid JSON: {exc.msg} (column {exc.colno})",
                                         where=f"{path}:{lineno}") from None
                    except RecursionError:
                        raise InputError("not valid JSON: nested too deeply", where=f"{path}:{lineno}") from None
                    if not isinstance(data, dict):
                        raise InputError("each line must be a JSON object", where=f"{path}:{lineno}")
                    yield lineno, data
            else:
                reader = csv.DictReader(line for _, line in lines)
                if not reader.fieldnames or "kind" not in reader.fieldnames:
                    raise InputError("the CSV header must include a 'kind' column", where=f"{path}:1")
                for row in reader:
                    if None in row:
                        raise InputError("more cells than header columns", where=f"{path}:{reader.line_num}")
                    # empty cells mean "no value", so one CSV can carry several record kinds
                    data = {k: v for k, v in row.items() if v not in ("", None)}
                    if "lines" in data:  # order lines: a JSON array in one cell
                        try:
                            data["lines"] = json.loads(data["lines"])
                        except json.JSONDecodeError as exc:
                            raise InputError(f"lines: not a JSON array: {exc.msg}",
                                             where=f"{path}:{reader.line_num}") from None
                    yield reader.line_num, data
    except gzip.BadGzipFile as exc:
        raise InputError(f"not a valid gzip file ({exc}); nothing was imported", where=str(path)) from None
    except (EOFError, zlib.error) as exc:
        reason = "it ends early (truncated)" if isinstance(exc, EOFError) else f"corrupt data: {exc}"
        raise InputError(f"cannot read the gzip file: {reason}; nothing was imported", where=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", where=str(path)) from None
    except csv.Error as exc:
        raise InputError(f"not valid CSV: {exc}", where=str(path)) from None


_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")  # AccountConfig.id's pattern
Keyer = Callable[[str, str], str | None]  # (account, raw buyer id) -> buyer key


def _account(data: dict[str, Any], where: str) -> Account:
    from sellerguard.consent import PROVIDERS, did_you_mean

    values = {k: v for k, v in data.items() if k != "kind"}
    try:
        acc = Account.model_validate(values)
    except ValidationError as exc:
        raise InputError(f"account: {_field_error(exc)}", where=where) from None
    # the config's account id rule (AccountConfig.id), as for a record's ``account``: an account registered under
    # any other id (control characters, a space) could never be configured
    if not _ACCOUNT_ID.match(acc.id):
        raise InputError(f"id: {acc.id[:100]!r} is not an account id (letters, digits, '_', '.', '-', as in the "
                         "config)", where=where)
    for name in ("seller_id", "display_name"):
        text = getattr(acc, name)
        if text is not None and (not text.strip() or not text.isprintable()):
            raise InputError(f"{name}: {text[:100]!r} is empty or holds a control or format character "
                             "(shown as is by the dashboard)", where=where)
    if acc.marketplace not in PROVIDERS:
        raise InputError(f"marketplace: unknown marketplace '{acc.marketplace}'"
                         f"{did_you_mean(acc.marketplace, PROVIDERS)} (known: {', '.join(sorted(PROVIDERS))})",
                         where=where)
    if acc.region:  # it picks the site's thresholds (Mercado Libre's colours): refused by name, never ignored
        from sellerguard.consent import region_of
        from sellerguard.errors import ConfigError

        try:
            acc = acc.model_copy(update={"region": region_of(acc.marketplace, acc.id, acc.region)})
        except ConfigError as exc:
            raise InputError(f"region: {exc.message}", where=where) from None
    return acc


def _records(path: Path, progress: Progress | None, keyer: Keyer | None = None, *,
             once: bool = False) -> Iterator[Record | Account]:
    """The file's account lines and validated records. ``once`` (the validation pass): a record key given twice
    in the file with different content is refused (which line would win is not for a file to leave open); the
    same record repeated word for word passes and changes nothing the second time. It keeps two integers per
    record of the file (hashes of the key and of the content, with the line), about 100 bytes each."""
    first: dict[int, tuple[int, int]] = {}
    for lineno, data in _rows(path, progress):
        if data.get("kind") == "account":
            yield _account(data, f"{path}:{lineno}")
            continue
        raw_buyer = data.get("buyer_id")  # the validation pass keys every buyer alike: compare the raw ids too
        if "buyer_id" in data:
            data = _key_buyer(data, keyer, f"{path}:{lineno}")
        try:
            record = parse_record(data)
        except ValidationError as exc:
            raise InputError(_field_error(exc), where=f"{path}:{lineno}") from None
        if once:
            key, content = hash((record.kind, record.account, record.external_id)), hash((record, str(raw_buyer)))
            seen = first.setdefault(key, (content, lineno))
            if seen[0] != content:
                raise InputError(f"external_id: {record.kind} {record.external_id!r} of account {record.account!r} "
                                 f"is already on line {seen[1]} of this file with different content; give each "
                                 f"record once per file", where=f"{path}:{lineno}")
        yield record


def _key_buyer(data: dict[str, Any], keyer: Keyer | None, where: str) -> dict[str, Any]:
    """``buyer_id`` (raw) -> ``buyer_key`` (HMAC); the raw id is dropped here and never validated or stored."""
    data = dict(data)
    raw = data.pop("buyer_id")
    if data.get("kind") != "order":
        raise InputError("buyer_id: only an order carries a buyer", where=where)
    if "buyer_key" in data:
        raise InputError("buyer_id: give buyer_id or buyer_key, not both", where=where)
    if raw is None:
        return data
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise InputError("buyer_id: must be text (the marketplace's buyer id)", where=where)
    try:  # the validation pass has no store: any buyer_key will do there, but a garbled id fails in both passes
        key = keyer(str(data.get("account") or ""), str(raw)) if keyer is not None \
            else pseudonym.buyer_key(b"validation", "", str(raw)) and "0" * 64
    except ValueError as exc:
        raise InputError(f"buyer_id: {exc}", where=where) from None
    if key is not None:
        data["buyer_key"] = key
    return data


def _buyer_keyer(store: Store, marketplaces: Mapping[str, str] | None) -> Keyer:
    """Keys like the connector's (``ctx.buyer_key``): the account's marketplace from the config or the store."""
    from sqlmodel import Session, select

    from sellerguard.store.tables import AccountRow

    secret = keys.buyer_secret(store)
    known = dict(marketplaces or {})
    with Session(store.engine) as session:
        for row in session.exec(select(AccountRow)):
            known.setdefault(row.id, row.marketplace)

    def key(account: str, raw: str) -> str | None:
        # an account neither configured nor synced: its own id namespaces the keys
        return pseudonym.buyer_key(secret, known.get(account, account), raw)

    return key


def validate_files(paths: list[Path], progress: Progress | None = None,
                   seen: dict[str, Account | None] | None = None) -> int:
    """First pass: every record of every file must validate. Returns the number of records (not account lines);
    ``seen`` collects every account id, with its account line when the files have one."""
    total = 0
    seen = seen if seen is not None else {}
    for path in paths:
        if not path.is_file():  # a folder or a pipe named like a data file is not "no such file"
            raise InputError("cannot read: a folder, not a file" if path.is_dir() else
                             "cannot read: not a regular file" if path.exists() else "no such file", where=str(path))
        for item in _records(path, progress, once=True):
            if isinstance(item, Account):
                seen[item.id] = item
            else:
                seen.setdefault(item.account, None)
                total += 1
    return total


def import_files(store: Store, paths: list[Path], progress: Progress | None = None,
                 marketplaces: Mapping[str, str] | None = None, marketplace: str | None = None) -> ImportResult:
    """Validate everything, then write everything in one transaction (all or nothing).

    ``marketplaces`` (account id -> marketplace, from the config) makes keys of ``buyer_id`` values match
    the ones the account's connector makes; accounts already synced are found in the store. ``marketplace``
    registers every account of the files that has no account line and is neither configured nor stored.
    """
    from sqlmodel import select

    from sellerguard.rules import rollup
    from sellerguard.store.tables import AccountRow

    if marketplace is not None:
        _account({"id": "x", "marketplace": marketplace}, "--marketplace")
    result = ImportResult(files=len(paths))
    seen: dict[str, Account | None] = {}
    result.records = validate_files(paths, progress, seen)
    configured = dict(marketplaces or {})
    with store.transaction() as tx:
        stored = {row.id for row in tx.session.exec(select(AccountRow))}
        register: list[Account] = []
        for account_id, line in seen.items():
            acc = line or (Account(id=account_id, marketplace=marketplace) if marketplace and account_id not in
                           configured and account_id not in stored else None)
            if acc is not None:
                register.append(acc)
                configured.setdefault(acc.id, acc.marketplace)  # buyer ids keyed with this marketplace
            elif account_id not in configured and account_id not in stored:
                result.unregistered.append(account_id)
        # the Store itself (the CLI may hand in a lazy proxy): its configured key location applies. Before the
        # first write of this transaction: the key's first use writes its fingerprint on its own connection
        keyer = _buyer_keyer(tx._store, configured)
        for acc in register:
            tx._store._put(tx.session, AccountRow, acc.model_dump(), ("id",))
            result.registered[acc.id] = acc.marketplace
        for path in paths:
            batch: list[Record] = []
            for record in _records(path, progress, keyer):
                if isinstance(record, Account):
                    continue
                batch.append(record)
                if len(batch) >= BATCH:
                    result.changed += tx.write(batch)
                    batch.clear()
            if batch:
                result.changed += tx.write(batch)
        real = tx._store
    # the day rollups of the days the import marked, once per account after it (issue 21, rules/rollup.py);
    # should this fail, the records are stored and the marked days are read from the records until the next sync
    for account_id in seen:
        try:
            rollup.catch_up(real, account_id)
        except Exception:
            continue
    return result
