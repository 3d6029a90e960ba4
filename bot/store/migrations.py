"""Versioned schema migrations, applied in order at start (`open_store`) and by `etl-triage db upgrade`.

A migration is never edited once released: add the next version instead. Each runs in one transaction with
its `schema_migrations` row, so a crash leaves the schema at the previous version; concurrent starts of
several replicas serialise on a lock (Postgres advisory lock / SQLite's write lock).

Version 1 already holds what incident memory needs (fingerprints on triages and feedback, an `incidents`
table, corrected category/cause on feedback, the team a job belongs to), so that work adds behaviour, not a
rewrite of these tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.backend import Backend, Dialect

MIGRATION_LOCK = 0x65746C74  # "etlt": pg_advisory_xact_lock key


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


V1 = (
    """CREATE TABLE alerts (
        id {pk},
        channel TEXT NOT NULL,
        ts TEXT NOT NULL,
        job TEXT,
        run_id TEXT,
        source TEXT NOT NULL,
        team TEXT,
        alert_json TEXT NOT NULL,
        received_at {real} NOT NULL,
        UNIQUE (channel, ts))""",
    "CREATE INDEX alerts_received ON alerts (received_at)",
    "CREATE INDEX alerts_job ON alerts (job, received_at)",
    """CREATE TABLE incidents (
        id {pk},
        fingerprint TEXT NOT NULL,
        category TEXT NOT NULL,
        root_cause TEXT,
        team TEXT,
        channel TEXT,
        report_channel TEXT,
        report_ts TEXT,
        alert_count INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'open',
        opened_at {real} NOT NULL,
        last_seen_at {real} NOT NULL,
        closed_at {real})""",
    "CREATE INDEX incidents_open ON incidents (fingerprint, status, last_seen_at)",
    """CREATE TABLE triages (
        id {pk},
        alert_id BIGINT NOT NULL UNIQUE REFERENCES alerts (id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        lease_owner TEXT,
        lease_until {real} NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        reply_channel TEXT,
        reply_ts TEXT,
        report_json TEXT,
        category TEXT,
        confidence {real},
        root_cause TEXT,
        signature TEXT,
        fingerprint TEXT,
        incident_id BIGINT REFERENCES incidents (id) ON DELETE SET NULL,
        provider TEXT,
        usage_json TEXT,
        timings_json TEXT,
        duration_ms {real},
        error TEXT,
        created_at {real} NOT NULL,
        started_at {real},
        finished_at {real})""",
    "CREATE INDEX triages_lease ON triages (status, lease_until)",
    "CREATE INDEX triages_reply ON triages (reply_channel, reply_ts)",
    "CREATE INDEX triages_fingerprint ON triages (fingerprint, finished_at)",
    """CREATE TABLE escalations (
        id {pk},
        channel TEXT NOT NULL,
        message_ts TEXT NOT NULL,
        team_key TEXT NOT NULL,
        triage_id BIGINT REFERENCES triages (id) ON DELETE SET NULL,
        incident_id BIGINT REFERENCES incidents (id) ON DELETE SET NULL,
        user_id TEXT NOT NULL,
        status TEXT NOT NULL,
        lease_owner TEXT,
        lease_until {real} NOT NULL DEFAULT 0,
        created_at {real} NOT NULL,
        posted_at {real},
        UNIQUE (channel, message_ts, team_key))""",
    "CREATE INDEX escalations_created ON escalations (created_at)",
    """CREATE TABLE feedback (
        id {pk},
        channel TEXT NOT NULL,
        message_ts TEXT NOT NULL,
        verdict TEXT NOT NULL,
        triage_id BIGINT REFERENCES triages (id) ON DELETE SET NULL,
        user_id TEXT NOT NULL,
        job TEXT,
        run_id TEXT,
        team TEXT,
        category TEXT,
        fingerprint TEXT,
        corrected_category TEXT,
        corrected_cause TEXT,
        note TEXT,
        corrected_by TEXT,
        corrected_at {real},
        created_at {real} NOT NULL,
        UNIQUE (channel, message_ts, verdict))""",
    "CREATE INDEX feedback_fingerprint ON feedback (fingerprint, verdict, created_at)",
    "CREATE INDEX feedback_triage ON feedback (triage_id)",
    "CREATE INDEX feedback_created ON feedback (created_at)",
    """CREATE TABLE channel_pace (
        channel TEXT PRIMARY KEY,
        next_at {real} NOT NULL)""",
)

V2 = (
    # incident memory: infra failures of several jobs naming one host/warehouse/bucket group by infra_key;
    # the leader is the triage whose report the others point at; one open incident per fingerprint and team
    "ALTER TABLE incidents ADD COLUMN infra_key TEXT",
    "ALTER TABLE incidents ADD COLUMN leader_triage_id BIGINT",
    "UPDATE incidents SET team = '' WHERE team IS NULL",
    "CREATE UNIQUE INDEX incidents_one_open ON incidents (fingerprint, team) WHERE status = 'open'",
    "CREATE INDEX incidents_infra ON incidents (infra_key, status, last_seen_at)",
    "CREATE INDEX triages_incident ON triages (incident_id)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "alerts, triages, escalations, feedback, incidents, pace", V1),
    Migration(2, "incident grouping: infra key, leader, one open incident per fingerprint and team", V2),
)
LATEST = MIGRATIONS[-1].version


def render(statement: str, dialect: Dialect) -> str:
    return statement.format(pk=dialect.pk, real=dialect.real)


async def current_version(backend: Backend) -> int:
    async with backend.tx() as tx:
        if backend.dialect.name == "postgres":  # concurrent CREATE TABLE IF NOT EXISTS can collide
            await tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
        await tx.execute(render("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                                "name TEXT NOT NULL, applied_at {real} NOT NULL)", backend.dialect))
        row = await tx.fetchone("SELECT MAX(version) FROM schema_migrations")
    return int(row[0]) if row and row[0] is not None else 0


async def upgrade(backend: Backend, now: float) -> list[int]:
    """Apply every migration newer than the schema; returns the versions applied (empty when up to date)."""
    from bot.errors import StoreError

    version = await current_version(backend)
    if version > LATEST:
        raise StoreError(f"the database at {backend.where} has schema version {version}, newer than this "
                         f"etl-triage knows ({LATEST}); upgrade etl-triage, or point ETL_TRIAGE_DATABASE_URL "
                         "at another database")
    applied: list[int] = []
    for m in MIGRATIONS:
        if m.version <= version:
            continue
        async with backend.tx() as tx:
            if backend.dialect.name == "postgres":
                await tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            row = await tx.fetchone("SELECT 1 FROM schema_migrations WHERE version = ?", (m.version,))
            if row:  # another replica applied it while we waited for the lock
                continue
            for stmt in m.statements:
                await tx.execute(render(stmt, backend.dialect))
            await tx.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                             (m.version, m.name, now))
        applied.append(m.version)
    return applied
