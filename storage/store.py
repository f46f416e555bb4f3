"""The store: one SQLite database (via sqlite-utils) plus the file store of fetched documents.

Nothing fetched is lost or silently overwritten: document bytes are content-addressed and kept forever, a
report that changes gets a new version beside the old one, and every multi-row write is one transaction,
so a killed process leaves either the whole report or none of it. Saving the same inputs again changes no row.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from extract.model import FieldValue, Report
from registry.units import Unit
from storage.files import FileStore, sniff_kind
from storage.schema import MIGRATIONS, SCHEMA_VERSION_TABLE

if TYPE_CHECKING:
    import sqlite_utils


def _sqlite_utils() -> ModuleType:
    """sqlite-utils imports pandas and numpy when they are installed (the exports use them) only to map their scalar
    types to column types, which the store never hands it: 120 MB and half a second in every process that opens the
    database, the crawl first. Import it with the two hidden, unless something has imported them already."""
    hidden = [name for name in ("pandas", "numpy") if name not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden))  # a None entry makes `import pandas` fail, as if not installed
    try:
        return importlib.import_module("sqlite_utils")
    finally:
        for name in hidden:
            if sys.modules.get(name, "") is None:
                del sys.modules[name]


sqlite_utils = _sqlite_utils()

RUN_STATUSES = ("running", "finished", "failed", "abandoned")
FINDING_KEYS = frozenset(
    {"fingerprint", "rule", "severity", "unit_id", "year", "message_zh", "message_en", "cells", "source_url"}
)


class StorageError(Exception):
    """The database cannot be used as asked; the message says why."""


@dataclass(frozen=True)
class SaveResult:
    report_id: int
    version: int  # the version holding these inputs: the new one, or the existing one they matched
    outcome: Literal["new", "changed", "unchanged"]


@dataclass(frozen=True)
class UrlState:
    url: str
    status: int
    etag: str | None
    last_modified: str | None
    sha256: str | None
    changed_at: str
    changed_run: int | None


@dataclass(frozen=True)
class ReportVersionInfo:
    report_id: int
    unit_id: str
    year: int
    version: int
    is_current: bool
    document_sha256: str
    source_url: str
    title: str | None
    published_on: str | None
    template: str | None
    unit_name: str | None
    extracted_at: str
    run_id: int | None


@dataclass(frozen=True)
class FetchError:
    run_id: int
    night: str
    unit_id: str | None
    url: str | None
    kind: str
    message: str
    recorded_at: str


@dataclass(frozen=True)
class FindingsSummary:
    new: int
    open: int
    resolved: int  # resolved by this run


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(value: Any, *, sort_keys: bool = False) -> str:
    # Stored JSON keeps the caller's order (narrative sections 一…六 would not survive sorting by code point).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)


def content_hash(report: Report) -> str:
    """Hash of what the report says. Where it was read from (source, URL) and how each cell was read
    (raw text, provenance, notes, warnings) are left out, and whitespace in the prose is ignored, so the same
    report served as HTML and as PDF hashes the same and does not make a new version every night."""
    content = {
        "unit": report.unit,
        "year": report.year,
        "template": report.template,
        "title": report.title,
        "published_on": report.published_on,
        "sections": report.sections,
        "fields": {k: [fv.value, fv.inferred] for k, fv in report.fields.items()},
        "narrative": {k: "".join(text.split()) for k, text in report.narrative.items()},
        "missing_tables": report.missing_tables,
        "image_only_sections": report.image_only_sections,
    }
    return hashlib.sha256(_json(content, sort_keys=True).encode()).hexdigest()


def _checked_value(key: str, value: Any) -> int | float | None:
    # SQLite would store NaN as NULL and a str as TEXT: refuse rather than hand back something else.
    if value is None or type(value) is int:
        return value
    if type(value) is float and math.isfinite(value):
        return value
    raise ValueError(f"field {key}: value {value!r} is not an int, a finite float or None")


@dataclass(frozen=True)
class ReportRecord:
    """A report as the rows `Store.save_report` writes: its content hash, its lists as JSON, its fields as tuples
    (position, key, value, raw, inferred, provenance, note). Computed apart from the database, in a crawl's extraction
    worker: plain tuples cross between processes at a fraction of a Report's cost, and the hashing is done there."""

    unit: str | None
    year: int | None
    title: str | None
    template: str | None
    published_on: str | None
    source: str | None
    sections: str
    narrative: str
    warnings: str
    missing_tables: str
    image_only_sections: str
    content_hash: str
    fields: tuple[tuple[int, str, int | float | None, str | None, int, str | None, str | None], ...]

    @classmethod
    def of(cls, report: Report) -> ReportRecord:
        """Raises ValueError for a value SQLite would not hand back as it was given."""
        return cls(
            report.unit, report.year, report.title, report.template, report.published_on, report.source,
            _json(report.sections), _json(report.narrative), _json(report.warnings), _json(report.missing_tables),
            _json(report.image_only_sections), content_hash(report),
            tuple((i, key, _checked_value(key, fv.value), fv.raw, int(fv.inferred), fv.where, fv.note)
                  for i, (key, fv) in enumerate(report.fields.items())),
        )


def _header(headers: Mapping[Any, Any], name: str) -> str | None:
    """A header value from str- or bytes-keyed headers (Scrapy gives bytes and lists of bytes)."""
    for key, value in headers.items():
        key_text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if key_text.lower() != name:
            continue
        if isinstance(value, list | tuple):
            value = value[-1] if value else None
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        return value.strip() if value else None
    return None


class Store:
    """The database and the file store. Open with `Store.open(db_path, files_dir)`; close when done."""

    def __init__(self, db: sqlite_utils.Database, files: FileStore) -> None:
        self.db = db
        self.files = files

    @classmethod
    def open(cls, db_path: str | Path, files_dir: str | Path) -> Store:
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(db_path)
        db.execute("PRAGMA busy_timeout = 30000")  # a second process (scheduler, CLI) waits for the writer
        db.enable_wal()
        # In WAL mode NORMAL loses no committed transaction when the process dies, only on power loss,
        # and then rolls back whole transactions; FULL would fsync every report.
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        store = cls(db, FileStore(Path(files_dir)))
        try:
            store._migrate()
        except BaseException:
            db.close()
            raise
        return store

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction. `with db.conn:` would not do: sqlite-utils commits each statement it runs
        outside a transaction it can see. IMMEDIATE takes the write lock up front, because a deferred
        transaction that reads and then writes fails at once when another process wrote in between."""
        self.db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.conn.execute("ROLLBACK")
            raise
        self.db.conn.execute("COMMIT")

    def _migrate(self) -> None:
        self.db.execute(SCHEMA_VERSION_TABLE)
        for version, script in enumerate(MIGRATIONS, start=1):
            with self._write():
                # Read inside the write lock: two processes opening a new database must not both migrate it.
                current = self.db.execute("SELECT ifnull(max(version), 0) FROM schema_version").fetchone()[0]
                if current > len(MIGRATIONS):
                    raise StorageError(f"database schema version {current} is newer than this code's {len(MIGRATIONS)}")
                if current >= version:
                    continue
                self.db.executescript(script)
                self.db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", [version, _now()])

    def schema_version(self) -> int:
        return self.db.execute("SELECT ifnull(max(version), 0) FROM schema_version").fetchone()[0]

    def integrity_ok(self) -> bool:
        return [row[0] for row in self.db.execute("PRAGMA integrity_check").fetchall()] == ["ok"]

    # ------------------------------------------------------------------------------------------------ units

    def upsert_units(self, units: Iterable[Unit]) -> None:
        """Insert or update units by unit_id. Units missing from `units` are kept: reports may refer to them."""
        rows = [
            {**asdict(u), "column_urls": _json(list(u.column_urls)), "aliases": _json(list(u.aliases))} for u in units
        ]
        with self._write():
            self.db.table("units").upsert_all(rows, pk="unit_id")

    def units(self) -> list[Unit]:
        return [_unit(row) for row in self.db.query("SELECT * FROM units ORDER BY unit_id")]

    # ------------------------------------------------------------------------------------------------- runs

    def start_run(self, night: str | None = None) -> int:
        """A new crawl run; `night` (ISO date) defaults to today's local date."""
        night = night or datetime.now().astimezone().date().isoformat()
        return self.db.execute(
            "INSERT INTO crawl_runs (night, started_at, status, stats) VALUES (?, ?, 'running', '{}')", [night, _now()]
        ).lastrowid

    def finish_run(self, run_id: int, status: str = "finished", stats: Mapping[str, Any] | None = None,
                   state: Mapping[str, Any] | None = None) -> None:
        """Close a run. `state` (name → JSON value) replaces those crawl states in the same transaction: a run
        that dies before it finishes leaves the states of the last run that did."""
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"a run finishes as one of {RUN_STATUSES[1:]}, not {status!r}")
        with self._write():
            cursor = self.db.execute(
                "UPDATE crawl_runs SET finished_at = ?, status = ?, stats = ? WHERE run_id = ?",
                [_now(), status, _json(dict(stats or {})), run_id],
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no crawl run {run_id}")
            for name, value in (state or {}).items():
                self.db.execute(
                    "INSERT INTO crawl_state (name, value, run_id, changed_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value, run_id = excluded.run_id,"
                    " changed_at = excluded.changed_at WHERE value != excluded.value",
                    [name, _json(value, sort_keys=True), run_id, _now()],
                )

    def crawl_state(self, name: str) -> Any:
        """A crawl state as the last run that finished with it left it; None if none did."""
        row = self.db.execute("SELECT value FROM crawl_state WHERE name = ?", [name]).fetchone()
        return json.loads(row[0]) if row else None

    def abandon_running_runs(self) -> list[int]:
        """Mark runs still 'running' as abandoned: call when no crawl can be running (their process died)."""
        with self._write():
            ids = [r[0] for r in self.db.execute("SELECT run_id FROM crawl_runs WHERE status = 'running'")]
            self.db.execute(
                "UPDATE crawl_runs SET status = 'abandoned', finished_at = ? WHERE status = 'running'", [_now()]
            )
        return ids

    def run(self, run_id: int) -> dict[str, Any]:
        rows = list(self.db.query("SELECT * FROM crawl_runs WHERE run_id = ?", [run_id]))
        if not rows:
            raise KeyError(f"no crawl run {run_id}")
        return {**rows[0], "stats": json.loads(rows[0]["stats"])}

    # -------------------------------------------------------------------------------------------- documents

    def save_document(self, data: bytes, content_type: str | None = None, *, sha256: str | None = None) -> str:
        """Keep the bytes (once) and return their sha256. The file is on disk before its row exists, so a row
        always has its bytes; a crash in between leaves only a file that the next save of it adopts. `sha256`: the
        bytes were put in the file store already (`files.put` returned it), so they are neither hashed nor written
        again."""
        sha256 = sha256 or self.files.put(data)
        self.db.execute(
            "INSERT OR IGNORE INTO documents (sha256, size, content_type, kind, first_seen_at) VALUES (?, ?, ?, ?, ?)",
            [sha256, len(data), content_type, sniff_kind(data, content_type), _now()],
        )
        return sha256

    def open_document(self, sha256: str) -> BinaryIO:
        if self.db.execute("SELECT 1 FROM documents WHERE sha256 = ?", [sha256]).fetchone() is None:
            raise KeyError(f"no document {sha256}")
        return self.files.open(sha256)

    # -------------------------------------------------------------------------------------------- url state

    def url_state(self, url: str) -> UrlState | None:
        # The connection's own execute: asked three or four times per URL a crawl fetches, sqlite-utils' wrapper is a
        # third of the call's time.
        row = self.db.conn.execute(
            "SELECT url, status, etag, last_modified, sha256, changed_at, changed_run FROM url_state WHERE url = ?",
            [url],
        ).fetchone()
        return UrlState(*row) if row else None

    def conditional_headers(self, url: str) -> dict[str, str]:
        """Headers for a conditional GET. Empty when no bytes are kept for the URL: a 304 would then leave
        the crawler with nothing to read."""
        state = self.url_state(url)
        if state is None or state.sha256 is None:
            return {}
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        return headers

    def record_fetch(
        self, url: str, status: int, headers: Mapping[Any, Any], sha256: str | None, run_id: int | None
    ) -> bool:
        """Note a response; True when the URL's state changed.

        2xx replaces the state. 304 keeps the bytes (`sha256` when given: the copy the crawl answered it with) and
        refreshes only validators the server sent. Any other status is recorded, but the validators and sha256 of the
        last good response stay, since they still describe the kept bytes.
        """
        etag, last_modified = _header(headers, "etag"), _header(headers, "last-modified")
        with self._write():
            old = self.url_state(url)
            if 200 <= status < 300:
                new = (status, etag, last_modified, sha256)
            elif status == 304 and old is not None:
                new = (old.status, etag or old.etag, last_modified or old.last_modified, sha256 or old.sha256)
            elif status == 304 and sha256 is not None:  # answered with a copy this URL has no state for yet
                new = (200, etag, last_modified, sha256)
            elif old is None:
                new = (status, None, None, None)
            else:
                new = (status, old.etag, old.last_modified, old.sha256)
            if old is not None and new == (old.status, old.etag, old.last_modified, old.sha256):
                return False
            self.db.execute(
                "INSERT INTO url_state (url, status, etag, last_modified, sha256, changed_at, changed_run)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET status = excluded.status,"
                " etag = excluded.etag, last_modified = excluded.last_modified, sha256 = excluded.sha256,"
                " changed_at = excluded.changed_at, changed_run = excluded.changed_run",
                [url, *new, _now(), run_id],
            )
        return True

    # ---------------------------------------------------------------------------------------------- reports

    def save_report(
        self, unit_id: str, report: Report | ReportRecord, document_sha256: str, source_url: str, *,
        run_id: int | None = None,
    ) -> SaveResult:
        """Store a report (or its record, computed beforehand) as the version of (unit_id, report.year) read from
        `document_sha256`.

        A report already stored from the same document, or with the same content (see `content_hash`) in any
        earlier version, makes no row: "unchanged" with the version it matched — unless the URL of the current version
        went back to an earlier document (A→B→A: the correction was taken back), which makes a new version. Otherwise
        a new version becomes current and the old ones stay. `source_url` is stored as the version's source URL.
        """
        if report.year is None:
            raise ValueError("a report without a year cannot be stored: (unit_id, year) is its identity")
        record = report if isinstance(report, ReportRecord) else ReportRecord.of(report)
        digest = record.content_hash
        with self._write():
            found = self.db.execute(
                "SELECT report_id FROM reports WHERE unit_id = ? AND year = ?", [unit_id, report.year]
            ).fetchone()
            if found is None:
                report_id = self.db.execute(
                    "INSERT INTO reports (unit_id, year, current_version) VALUES (?, ?, 1)", [unit_id, report.year]
                ).lastrowid
                version, outcome = 1, "new"
            else:
                report_id = found[0]
                # The same file read again is the same version — unless it now carries another publication date (a
                # file linked from the first article and from a later re-post takes each page's date): lateness goes
                # by the first date of any version, which must not depend on which page was read first.
                match = self.db.execute(
                    "SELECT max(version) FROM report_versions WHERE report_id = ?"
                    " AND ((document_sha256 = ? AND (? IS NULL OR published_on IS ?)) OR content_hash = ?)",
                    [report_id, document_sha256, record.published_on, record.published_on, digest],
                ).fetchone()[0]
                if match is not None and not self._reverted(report_id, match, document_sha256, source_url):
                    return SaveResult(report_id, match, "unchanged")
                version = self.db.execute(
                    "SELECT max(version) + 1 FROM report_versions WHERE report_id = ?", [report_id]
                ).fetchone()[0]
                outcome = "changed"
                self.db.execute("UPDATE reports SET current_version = ? WHERE report_id = ?", [version, report_id])
            self.db.execute(
                "INSERT INTO report_versions (report_id, version, document_sha256, source_url, title, published_on,"
                " template, unit_name, sections, narrative, warnings, missing_tables, image_only_sections, source,"
                " content_hash, extracted_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    report_id, version, document_sha256, source_url, record.title, record.published_on,
                    record.template, record.unit, record.sections, record.narrative, record.warnings,
                    record.missing_tables, record.image_only_sections, record.source, digest, _now(), run_id,
                ],
            )
            # executemany: measured ~400 reports/s of 207 fields against ~210 with Table.insert_all.
            self.db.conn.executemany(
                "INSERT INTO fields (report_id, version, position, key, value, raw, inferred, provenance, note)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(report_id, version, *row) for row in record.fields],
            )
        return SaveResult(report_id, version, outcome)

    def _reverted(self, report_id: int, match: int, document_sha256: str, source_url: str) -> bool:
        """Whether a report matching its earlier version `match` is the current version's URL gone back to older
        bytes. Matching an earlier version stays "unchanged" otherwise: an HTML page and the PDF beside it, or one file
        under two pages, must not take turns at being current."""
        current = self.db.execute(
            "SELECT v.version, v.document_sha256, v.source_url FROM reports r JOIN report_versions v"
            " ON v.report_id = r.report_id AND v.version = r.current_version WHERE r.report_id = ?", [report_id],
        ).fetchone()
        return current[0] != match and current[2] == source_url and current[1] != document_sha256

    def load_report(self, report_id: int, version: int | None = None) -> Report:
        """The report as saved (the current version unless `version` is given)."""
        row = self.db.execute(
            "SELECT v.version, v.unit_name, r.year, v.template, v.title, v.source_url, v.published_on, v.sections,"
            " v.narrative, v.image_only_sections, v.missing_tables, v.warnings, v.source"
            " FROM reports r JOIN report_versions v ON v.report_id = r.report_id"
            " WHERE r.report_id = ? AND v.version = ifnull(?, r.current_version)",
            [report_id, version],
        ).fetchone()
        if row is None:
            raise KeyError(f"no report {report_id} version {version or 'current'}")
        fields = {
            key: FieldValue(value, raw, where, bool(inferred), note)
            for key, value, raw, inferred, where, note in self.db.execute(
                "SELECT key, value, raw, inferred, provenance, note FROM fields"
                " WHERE report_id = ? AND version = ? ORDER BY position",
                [report_id, row[0]],
            )
        }
        return Report(
            unit=row[1],
            year=row[2],
            template=row[3],
            title=row[4],
            source_url=row[5],
            published_on=row[6],
            sections=json.loads(row[7]),
            fields=fields,
            narrative=json.loads(row[8]),
            image_only_sections=json.loads(row[9]),
            missing_tables=json.loads(row[10]),
            warnings=json.loads(row[11]),
            source=row[12],
        )

    _VERSION_INFO = (
        "SELECT r.report_id, r.unit_id, r.year, v.version, v.version = r.current_version, v.document_sha256,"
        " v.source_url, v.title, v.published_on, v.template, v.unit_name, v.extracted_at, v.run_id"
        " FROM reports r JOIN report_versions v ON v.report_id = r.report_id"
    )

    def latest_reports(self, year: int | None = None) -> list[ReportVersionInfo]:
        """The current version of every report (of one year, if given)."""
        rows = self.db.execute(
            self._VERSION_INFO + " WHERE v.version = r.current_version AND (? IS NULL OR r.year = ?)"
            " ORDER BY r.unit_id, r.year",
            [year, year],
        )
        return [_version_info(row) for row in rows]

    def report_history(self, unit_id: str) -> list[ReportVersionInfo]:
        """Every version of every report of a unit, oldest year and version first."""
        rows = self.db.execute(
            self._VERSION_INFO + " WHERE r.unit_id = ? ORDER BY r.year, v.version", [unit_id]
        )
        return [_version_info(row) for row in rows]

    def units_without_report(self, year: int) -> list[Unit]:
        rows = self.db.query(
            "SELECT * FROM units u WHERE NOT EXISTS"
            " (SELECT 1 FROM reports r WHERE r.unit_id = u.unit_id AND r.year = ?) ORDER BY u.unit_id",
            [year],
        )
        return [_unit(row) for row in rows]

    # ------------------------------------------------------------------------------------------ fetch errors

    def record_error(
        self, run_id: int, kind: str, message: str, *, unit_id: str | None = None, url: str | None = None
    ) -> None:
        """Note a failure of a run; the same error twice in a run is one row."""
        night = self.db.execute("SELECT night FROM crawl_runs WHERE run_id = ?", [run_id]).fetchone()
        if night is None:
            raise KeyError(f"no crawl run {run_id}")
        self.db.execute(
            "INSERT OR IGNORE INTO fetch_errors (run_id, night, unit_id, url, kind, message, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, night[0], unit_id, url, kind, message, _now()],
        )

    def errors_for_run(self, run_id: int) -> list[FetchError]:
        rows = self.db.execute(
            "SELECT run_id, night, unit_id, url, kind, message, recorded_at FROM fetch_errors"
            " WHERE run_id = ? ORDER BY error_id",
            [run_id],
        )
        return [FetchError(*row) for row in rows]

    def consecutive_failed_nights(self, unit_id: str) -> int:
        """How many nights in a row, up to the latest, the unit had fetch errors.

        A night counts when a run of it finished or the unit had errors in it; a night whose runs all died
        early says nothing about the unit and neither ends nor extends the streak.
        """
        failed = {
            r[0] for r in self.db.execute("SELECT DISTINCT night FROM fetch_errors WHERE unit_id = ?", [unit_id])
        }
        nights = self.db.execute(
            "SELECT night FROM crawl_runs WHERE status = 'finished'"
            " UNION SELECT night FROM fetch_errors WHERE unit_id = ? ORDER BY night DESC",
            [unit_id],
        )
        streak = 0
        for (night,) in nights:
            if night not in failed:
                break
            streak += 1
        return streak

    # ---------------------------------------------------------------------------------------------- findings

    def record_findings(self, run_id: int, findings: Iterable[Mapping[str, Any]]) -> FindingsSummary:
        """Update finding statuses from the *complete* list of one night's findings.

        A fingerprint not seen before is new; one seen on an earlier night is open; an open or new finding
        missing from the list is resolved by this run; a resolved one that comes back is new again (its
        first_seen_run restarts). Recording the same list for the same run twice changes nothing.
        """
        tonight: dict[str, dict[str, Any]] = {}
        for finding in findings:
            unknown = set(finding) - FINDING_KEYS
            if unknown or not all(finding.get(k) for k in ("fingerprint", "rule", "severity")):
                raise ValueError(f"a finding needs fingerprint, rule and severity, and only {sorted(FINDING_KEYS)}")
            row = {k: finding.get(k) for k in FINDING_KEYS}
            row["cells"] = _json(finding.get("cells") or [])
            tonight[row["fingerprint"]] = row
        with self._write():
            known = {
                fp: (first, status, resolved)
                for fp, first, status, resolved in self.db.execute(
                    "SELECT fingerprint, first_seen_run, status, resolved_run FROM findings"
                )
            }
            for fp, row in tonight.items():
                first = run_id
                if fp in known:
                    first, status, resolved = known[fp]
                    if status == "resolved" and resolved != run_id:
                        first = run_id
                status = "new" if first == run_id else "open"
                row.update(first_seen_run=first, last_seen_run=run_id, resolved_run=None, status=status)
                self.db.execute(
                    "INSERT INTO findings (fingerprint, rule, severity, unit_id, year, message_zh, message_en, cells,"
                    " source_url, first_seen_run, last_seen_run, resolved_run, status) VALUES (:fingerprint, :rule,"
                    " :severity, :unit_id, :year, :message_zh, :message_en, :cells, :source_url, :first_seen_run,"
                    " :last_seen_run, :resolved_run, :status) ON CONFLICT (fingerprint) DO UPDATE SET"
                    " rule = excluded.rule, severity = excluded.severity, unit_id = excluded.unit_id,"
                    " year = excluded.year, message_zh = excluded.message_zh, message_en = excluded.message_en,"
                    " cells = excluded.cells, source_url = excluded.source_url,"
                    " first_seen_run = excluded.first_seen_run, last_seen_run = excluded.last_seen_run,"
                    " resolved_run = NULL, status = excluded.status",
                    row,
                )
            for fp, (_first, status, _resolved) in known.items():
                if status != "resolved" and fp not in tonight:
                    self.db.execute(
                        "UPDATE findings SET status = 'resolved', resolved_run = ? WHERE fingerprint = ?", [run_id, fp]
                    )
        statuses = [row["status"] for row in tonight.values()]
        resolved = self.db.execute("SELECT count(*) FROM findings WHERE resolved_run = ?", [run_id]).fetchone()[0]
        return FindingsSummary(statuses.count("new"), statuses.count("open"), resolved)

    def findings(self, status: str | None = None) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT * FROM findings WHERE ? IS NULL OR status = ? ORDER BY unit_id, year, rule, fingerprint",
            [status, status],
        )
        return [{**row, "cells": json.loads(row["cells"])} for row in rows]

    # ------------------------------------------------------------------------------------------- scheduler

    def start_cycle(self) -> int:
        return self.db.execute(
            "INSERT INTO scheduler_runs (started_at, outcome) VALUES (?, 'running')", [_now()]
        ).lastrowid

    def finish_cycle(self, cycle_id: int, outcome: str, message: str | None = None, run_id: int | None = None) -> None:
        cursor = self.db.execute(
            "UPDATE scheduler_runs SET finished_at = ?, outcome = ?, message = ?, run_id = ? WHERE cycle_id = ?",
            [_now(), outcome, message, run_id, cycle_id],
        )
        if cursor.rowcount != 1:
            raise KeyError(f"no scheduler cycle {cycle_id}")

    def abandon_running_cycles(self, message: str) -> list[int]:
        """Mark cycles still 'running' as abandoned: call when no cycle can be running (their scheduler died)."""
        with self._write():
            ids = [r[0] for r in self.db.execute("SELECT cycle_id FROM scheduler_runs WHERE outcome = 'running'")]
            self.db.execute(
                "UPDATE scheduler_runs SET outcome = 'abandoned', finished_at = ?, message = ? WHERE outcome = 'running'",
                [_now(), message],
            )
        return ids

    def cycles(self) -> list[dict[str, Any]]:
        """The scheduler's run log, oldest first."""
        return list(self.db.query("SELECT * FROM scheduler_runs ORDER BY cycle_id"))

    def last_run(self) -> dict[str, Any] | None:
        """The latest crawl run (as `run` gives it), or None before the first."""
        row = self.db.execute("SELECT max(run_id) FROM crawl_runs").fetchone()
        return self.run(row[0]) if row[0] is not None else None


def _unit(row: Mapping[str, Any]) -> Unit:
    lists = {name: tuple(json.loads(row[name])) for name in ("column_urls", "aliases")}
    return Unit(**{**row, **lists})


def _version_info(row: tuple[Any, ...]) -> ReportVersionInfo:
    values = list(row)
    values[4] = bool(values[4])
    return ReportVersionInfo(*values)
