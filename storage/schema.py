"""The database schema, as numbered migrations applied on open and recorded in `schema_version`.

A migration is never edited once released: a change to the schema is a new script appended to MIGRATIONS.
"""

from __future__ import annotations

SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)
"""

_V1 = """
CREATE TABLE units (
    unit_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    division_code TEXT NOT NULL,
    level TEXT NOT NULL,
    province TEXT NOT NULL,
    parent_county TEXT NOT NULL,
    portal_url TEXT NOT NULL,
    column_urls TEXT NOT NULL,      -- JSON list
    cms TEXT NOT NULL,
    deadline TEXT,
    aliases TEXT NOT NULL           -- JSON list
);

CREATE TABLE crawl_runs (
    run_id INTEGER PRIMARY KEY,
    night TEXT NOT NULL,            -- the date the run belongs to (ISO), which a run past midnight keeps
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished', 'failed', 'abandoned')),
    stats TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX crawl_runs_night ON crawl_runs (night);

CREATE TABLE documents (
    sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    size INTEGER NOT NULL,
    content_type TEXT,
    kind TEXT NOT NULL,
    first_seen_at TEXT NOT NULL
);

-- Validators of the representation whose bytes are `sha256`; the row changes only when one of them does.
CREATE TABLE url_state (
    url TEXT PRIMARY KEY,
    status INTEGER NOT NULL,
    etag TEXT,
    last_modified TEXT,
    sha256 TEXT,
    changed_at TEXT NOT NULL,
    changed_run INTEGER REFERENCES crawl_runs (run_id)
);

CREATE TABLE reports (
    report_id INTEGER PRIMARY KEY,
    unit_id TEXT NOT NULL REFERENCES units (unit_id),
    year INTEGER NOT NULL,
    current_version INTEGER NOT NULL,
    UNIQUE (unit_id, year)
);

CREATE TABLE report_versions (
    report_id INTEGER NOT NULL REFERENCES reports (report_id),
    version INTEGER NOT NULL,
    document_sha256 TEXT NOT NULL REFERENCES documents (sha256),
    source_url TEXT NOT NULL,
    title TEXT,
    published_on TEXT,
    template TEXT,
    unit_name TEXT,                 -- the unit as printed in the report
    sections TEXT NOT NULL,         -- JSON list
    narrative TEXT NOT NULL,        -- JSON object: section numeral -> prose
    warnings TEXT NOT NULL,         -- JSON list
    missing_tables TEXT NOT NULL,   -- JSON list
    image_only_sections TEXT NOT NULL,  -- JSON list
    source TEXT,
    content_hash TEXT NOT NULL,
    extracted_at TEXT NOT NULL,
    run_id INTEGER REFERENCES crawl_runs (run_id),
    PRIMARY KEY (report_id, version)
);
CREATE INDEX report_versions_document ON report_versions (report_id, document_sha256);
CREATE INDEX report_versions_content ON report_versions (report_id, content_hash);

-- `value` has no declared type, hence no affinity: 3 stays INTEGER, 3.0 stays REAL, NULL stays NULL.
-- No index on `key` alone: it cut writes from ~400 to ~150 reports/s; reads go by (report_id, version).
CREATE TABLE fields (
    report_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    key TEXT NOT NULL,
    value,
    raw TEXT,
    inferred INTEGER NOT NULL CHECK (inferred IN (0, 1)),
    provenance TEXT,                -- FieldValue.where
    note TEXT,
    PRIMARY KEY (report_id, version, key),
    FOREIGN KEY (report_id, version) REFERENCES report_versions (report_id, version)
) WITHOUT ROWID;

CREATE TABLE fetch_errors (
    error_id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES crawl_runs (run_id),
    night TEXT NOT NULL,
    unit_id TEXT,
    url TEXT,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
-- The same error reported twice in a run is one row (NULLs would otherwise never compare equal).
CREATE UNIQUE INDEX fetch_errors_once ON fetch_errors (run_id, ifnull(unit_id, ''), ifnull(url, ''), kind, message);
CREATE INDEX fetch_errors_unit ON fetch_errors (unit_id, night);

CREATE TABLE findings (
    fingerprint TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    unit_id TEXT,
    year INTEGER,
    message_zh TEXT,
    message_en TEXT,
    cells TEXT NOT NULL,            -- JSON
    source_url TEXT,
    first_seen_run INTEGER NOT NULL REFERENCES crawl_runs (run_id),
    last_seen_run INTEGER NOT NULL REFERENCES crawl_runs (run_id),
    resolved_run INTEGER REFERENCES crawl_runs (run_id),
    status TEXT NOT NULL CHECK (status IN ('new', 'open', 'resolved'))
);
CREATE INDEX findings_status ON findings (status);
CREATE INDEX findings_unit ON findings (unit_id, year);

CREATE TABLE scheduler_runs (
    cycle_id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL DEFAULT 'running',
    message TEXT,
    run_id INTEGER REFERENCES crawl_runs (run_id)
);
"""

# What a crawl keeps from one night to the next besides URL states (the 年报 columns it found from home pages …): one
# JSON value per name, written by the run that finished with it.
_V2 = """
CREATE TABLE crawl_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,            -- JSON
    run_id INTEGER NOT NULL REFERENCES crawl_runs (run_id),  -- the run that last changed it
    changed_at TEXT NOT NULL
);
"""

# MIGRATIONS[i] takes the database from version i to version i + 1.
MIGRATIONS: tuple[str, ...] = (_V1, _V2)
