"""Amazon Reports API 2021-06-30: request a report, wait for it, download its document; the backfill plan.

createReport -> poll getReport until DONE / CANCELLED / FATAL -> getReportDocument -> GET the presigned URL.

- A requested report id is saved in ``ctx.state`` at once, so a restart resumes polling that report instead of
  requesting a new one (Amazon cancels reports requested too often). The caller clears it once the records
  are stored (``done``).
- ``CANCELLED`` means "no data" (Amazon's own wording), not an error and not zero: ``run`` returns None.
- The document URL is presigned and expires after 5 minutes: it is fetched right after getReportDocument,
  without the access token, and an expired URL (S3 answers 403) is asked for once more.
- The body may be GZIP (``compressionAlgorithm``); it is spooled to disk and decompressed as it is read.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import math
import re
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from sellerguard.connectors.contract import SyncContext
from sellerguard.errors import ConnectorError
from sellerguard.http import ErrorRule, HttpClient

REPORTS = "/reports/2021-06-30/reports"
DOCUMENTS = "/reports/2021-06-30/documents"
# Default usage plans (reports_2021-06-30.json, each operation's description): (rate req/s, burst)
LIMITS = {"createReport": (0.0167, 15), "getReport": (2.0, 15), "getReportDocument": (0.0167, 15)}
DOCUMENT_ERRORS: dict[int | str, ErrorRule] = {
    403: ErrorRule("fail", "wait", "the report document URL expired (Amazon's URLs last 5 minutes)"),
    400: ErrorRule("fail", "wait", "the report document URL was refused"),
}


_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")  # report ids (50020019003) and document ids (amzn1.spdoc.1.4.na...)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Report:
    report_type: str
    report_id: str
    document: BinaryIO | None  # None: CANCELLED, i.e. Amazon has no data for it


def _key(report_type: str) -> str:
    return f"report:{report_type}"


def run(ctx: SyncContext, http: HttpClient, report_type: str, marketplace_ids: list[str], *,
        start: datetime | None = None, end: datetime | None = None, max_wait_s: float = 900,
        poll_s: float = 15) -> Report:
    """Request (or resume) one report and return its document; raises kind="wait" while Amazon works on it."""
    where = f"amazon: {report_type}"
    report_id = ctx.state.get(_key(report_type))
    if report_id and not _ID.fullmatch(report_id):
        done(ctx, report_type)  # garbled saved id: request a new report
        report_id = None
    if not report_id:
        body: dict[str, Any] = {"reportType": report_type, "marketplaceIds": marketplace_ids}
        if start is not None:
            body["dataStartTime"] = iso(start)
        if end is not None:
            body["dataEndTime"] = iso(end)
        created = http.json(http.request("POST", REPORTS, json=body, bucket="createReport"), REPORTS)
        report_id = created.get("reportId") if isinstance(created, dict) else None
        if not isinstance(report_id, str) or not _ID.fullmatch(report_id):
            raise ConnectorError("bad payload: reportId: missing or not an id", kind="payload",
                                 where=f"{where}: POST {REPORTS}")
        ctx.state.put(_key(report_type), report_id)  # a restart resumes this report
    waited = 0.0
    while True:
        path = f"{REPORTS}/{report_id}"
        try:
            report = http.get_json(path, bucket="getReport")
        except ConnectorError as exc:
            if exc.status == 404:  # a saved report Amazon no longer knows (retention): forget it, ask again
                done(ctx, report_type)
                raise ConnectorError(f"report {report_id} is gone; the next sync requests a new one", kind="wait",
                                     where=where, status=404) from None
            raise
        status = report.get("processingStatus") if isinstance(report, dict) else None
        if status == "DONE":
            doc_id = report.get("reportDocumentId")
            if not isinstance(doc_id, str) or not _ID.fullmatch(doc_id):
                raise ConnectorError("bad payload: reportDocumentId: missing on a DONE report", kind="payload",
                                     where=f"{where}: GET {path}")
            return Report(report_type, report_id, download(http, doc_id))
        if status == "CANCELLED":
            done(ctx, report_type)
            return Report(report_type, report_id, None)
        if status == "FATAL":
            done(ctx, report_type)
            raise ConnectorError("Amazon could not produce the report (FATAL); the next sync requests a new one",
                                 kind="wait", where=where)
        if status not in ("IN_QUEUE", "IN_PROGRESS"):
            raise ConnectorError(f"bad payload: processingStatus: unknown value {status!r}", kind="payload",
                                 where=f"{where}: GET {path}")
        if waited >= max_wait_s:
            raise ConnectorError(f"report {report_id} is still {status} after {int(waited)} s; the next sync"
                                 " resumes it", kind="wait", where=where, retry_after=poll_s * 4)
        ctx.sleep(poll_s)
        waited += poll_s


def done(ctx: SyncContext, report_type: str) -> None:
    """Forget the pending report (its records are stored, or it had none)."""
    ctx.state.put(_key(report_type), None)


def download(http: HttpClient, document_id: str) -> BinaryIO:
    """The document, decompressed as it is read: spooled to a temporary file, so memory stays flat."""
    path = f"{DOCUMENTS}/{document_id}"
    s3 = HttpClient(base_url="", marketplace="amazon", clock=http.clock, sleep=http.sleep, errors=DOCUMENT_ERRORS,
                    session=http.session, max_attempts=3, timeout=http.timeout)
    for attempt in (1, 2):
        meta = http.get_json(path, bucket="getReportDocument")
        url = meta.get("url") if isinstance(meta, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConnectorError("bad payload: url: missing", kind="payload", where=f"amazon: GET {path}")
        try:
            response = s3.request("GET", url, stream=True)  # never with the access token: the URL is presigned
        except ConnectorError as exc:
            if exc.status in (400, 403) and attempt == 1:
                continue  # expired while we waited: ask for a fresh URL
            raise
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 (returned to the caller)
        for chunk in response.iter_content(1 << 16):
            spool.write(chunk)
        spool.seek(0)
        return _Document(spool, path, gzipped=meta.get("compressionAlgorithm") == "GZIP")
    raise AssertionError("unreachable")


class _Document(io.RawIOBase):
    """The spooled document, gunzipped while read; corruption surfaces as a payload error naming it."""

    def __init__(self, raw: Any, path: str, *, gzipped: bool) -> None:
        self._raw = raw
        self._gz = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        self._path = path

    def close(self) -> None:
        self._gz.close()
        self._raw.close()
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._gz.read(len(buffer))
            buffer[:len(data)] = data
            return len(data)
        except (OSError, EOFError, zlib.error):
            raise ConnectorError("bad payload: the GZIP report document is corrupt", kind="payload",
                                 where=f"amazon: GET {self._path}") from None


def tsv_rows(document: bytes | BinaryIO) -> Iterator[dict[str, str]]:
    """Rows of a tab-delimited flat-file report, streamed (header on line 1, a UTF-8 BOM accepted).

    Raw: no header check, no language mapping. Connector code reads documents with ``flat_rows``.
    """
    raw = io.BytesIO(document) if isinstance(document, bytes) else io.BufferedReader(document)  # type: ignore[arg-type]
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
    yield from csv.DictReader(text, delimiter="\t", quoting=csv.QUOTE_NONE)


# Flat-file column titles follow the seller's "Language for feed processing report" (Seller Central > Settings >
# Account Info); the Reports API has no locale option for these report types. Localized title -> English title.
# Sources: ../shared/field-cases/amazon_feedback_de.tsv, amazon_all_orders_jp_cp932.tsv; docs/connectors/amazon.md.
HEADERS: dict[str, dict[str, str]] = {
    "de": {"Datum": "Date", "Bewertung": "Rating", "Kommentare": "Comments", "Ihre Antwort": "Your Response",
           "Bestellnummer": "Order ID", "E-Mail-Adresse des Bewerters": "Rater Email"},
    "ja": {"注文番号": "amazon-order-id", "出品者注文番号": "merchant-order-id", "購入日": "purchase-date",
           "最終更新日": "last-updated-date", "注文ステータス": "order-status",
           "フルフィルメント・チャネル": "fulfillment-channel", "販売チャネル": "sales-channel",
           "配送サービスレベル": "ship-service-level", "出品者SKU": "sku", "商品ステータス": "item-status",
           "ASIN": "asin", "数量": "quantity", "通貨": "currency", "商品価格": "item-price"},
}
# The columns without which a document is not the report asked for (a wrong document is an error, not "no rows").
REQUIRED: dict[str, tuple[str, ...]] = {
    "GET_SELLER_FEEDBACK_DATA": ("Date", "Rating", "Order ID"),
    "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL": (
        "amazon-order-id", "purchase-date", "order-status", "fulfillment-channel", "quantity"),
}
# Encodings tried in order: UTF-8 (Amazon's default, BOM or not), then Shift_JIS/cp932 (Japan), then Windows-1252
# (older EU/NA documents); a document starting with a UTF-16 BOM is read as UTF-16 only. A document is read in
# the first one whose header line decodes into the report's columns.
ENCODINGS = ("utf-8-sig", "cp932", "cp1252")
LANGUAGE_HINT = ("the seller's 'Language for feed processing report' setting in Seller Central (Settings > Account"
                 " Info) decides the column titles; English is always read")


def _canonical(title: str) -> str:
    title = title.strip().strip('"')
    for table in HEADERS.values():
        if title in table:
            return table[title]
    lower = {"date": "Date", "rating": "Rating", "comments": "Comments", "order id": "Order ID",
             "order-id": "Order ID", "rater email": "Rater Email", "your response": "Your Response"}
    return lower.get(title.lower(), title)


def _language(titles: list[str]) -> str:
    for language, table in HEADERS.items():
        if any(t.strip() in table for t in titles):
            return language
    return "en"


@dataclass
class FlatFile:
    """A flat-file report document, decoded and checked: ``rows`` yields dicts keyed by English titles."""

    encoding: str
    language: str  # "en", or the language its titles were mapped from
    header: list[str]  # English titles
    rows: Iterator[dict[str, str]]


def flat_file(document: bytes | BinaryIO, report_type: str, where: str) -> FlatFile:
    """Decode a tab-delimited report, map localized titles and check it is ``report_type``'s document.

    Raises a payload error (naming the encoding or the language setting) for an empty document, a header that is
    not the report's, bytes that are not text in the document's encoding, or a row cut short (truncated document).
    """
    raw = io.BytesIO(document) if isinstance(document, bytes) else document
    buffered = io.BufferedReader(raw, buffer_size=1 << 16)  # type: ignore[arg-type]
    first = buffered.peek(1 << 16)[: 1 << 16]
    if not first.strip(b"\xef\xbb\xbf \t\r\n"):
        raise _bad(where, "(document)", "empty: no header line (a report always has one)")
    line = first.split(b"\n", 1)[0].rstrip(b"\r")
    required = REQUIRED.get(report_type, ())
    seen: list[str] = []
    utf16 = first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))  # some tools save reports as "Unicode"
    for encoding in ("utf-16",) if utf16 else ENCODINGS:
        try:
            titles = (first[: len(first) // 2 * 2].decode(encoding, errors="replace").split("\n", 1)[0]
                      .rstrip("\r") if utf16 else line.decode(encoding)).split("\t")
        except UnicodeDecodeError:
            continue
        header = [_canonical(t) for t in titles]
        if all(c in header for c in required):
            return FlatFile(encoding, _language(titles), header, _rows(buffered, encoding, header, where))
        seen = seen or [t.strip()[:30] for t in titles[:4]]
    raise _bad(where, "(header)", f"not a {report_type} document or not in a language sellerguard reads"
               f" (first columns {seen or '(not text)'}; expected {', '.join(required)}): {LANGUAGE_HINT}")


def _rows(buffered: io.BufferedReader, encoding: str, header: list[str], where: str) -> Iterator[dict[str, str]]:
    text = io.TextIOWrapper(buffered, encoding=encoding, errors="strict", newline="")
    reader = csv.reader(text, delimiter="\t", quoting=csv.QUOTE_NONE)
    try:
        next(reader)  # the header, already read
        for n, values in enumerate(reader, start=2):
            if not values or values == [""]:
                continue  # blank line (a trailing newline)
            if len(values) < len(header):
                raise _bad(where, f"line {n}", f"{len(values)} of {len(header)} columns: the document is cut short")
            yield dict(zip(header, values, strict=False))
    except UnicodeDecodeError as exc:
        raise _bad(where, "(document)", f"bytes that are not {encoding} text at offset {exc.start}:"
                   f" {LANGUAGE_HINT}") from None
    except csv.Error as exc:
        raise _bad(where, "(document)", f"not a tab-delimited report: {str(exc)[:80]}") from None


def _bad(where: str, field: str, problem: str) -> ConnectorError:
    return ConnectorError(f"bad payload: {field}: {problem}", kind="payload", where=f"amazon: {where}")


# -- backfill plan ---------------------------------------------------------------------------------------

SEARCH_RATE, SEARCH_BURST, PAGE_SIZE = 0.0056, 20, 100


@dataclass(frozen=True)
class Plan:
    orders: int
    page_by_page_calls: int
    page_by_page_hours: float
    report_calls: int  # createReport, getReport polls, getReportDocument, the download
    paged_orders: int  # the recent seller-fulfilled orders that still need packages and ship windows
    page_calls: int
    hours: float


def paging_hours(pages: int) -> float:
    """Time to read ``pages`` searchOrders pages: the burst at once, then one page per 1/rate seconds."""
    return max(0, pages - SEARCH_BURST) / SEARCH_RATE / 3600


def plan(orders: int, *, days: int = 90, package_days: int = 35, mfn_share: float = 0.65,
         polls: int = 4) -> Plan:
    """The cost of a first sync of ``orders`` orders over ``days`` days, page by page vs report + paging."""
    naive_pages = math.ceil(orders / PAGE_SIZE)
    paged = math.ceil(orders * min(1.0, package_days / days) * mfn_share)
    pages = math.ceil(paged / PAGE_SIZE)
    return Plan(orders=orders, page_by_page_calls=naive_pages, page_by_page_hours=paging_hours(naive_pages),
                report_calls=3 + polls, paged_orders=paged, page_calls=pages, hours=paging_hours(pages))
