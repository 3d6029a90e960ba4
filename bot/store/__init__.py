"""Durable state: alerts claimed once, triages and their leases, escalations, feedback, per-channel pacing.

`open_store(url)` picks the engine from the URL: `sqlite:///path` (the default is a file in the state
directory) or `postgresql://…` for several replicas. The Slack layer and `etl-triage history` own
persistence; the engine, providers and sandbox never import this package.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bot.errors import StoreError
from bot.store.backend import PostgresBackend, SqliteBackend
from bot.store.memory import Incident, IncidentJoin
from bot.store.store import Claim, HistoryRow, Store, Verdict

__all__ = ["Claim", "HistoryRow", "Incident", "IncidentJoin", "Store", "Verdict", "database_url", "open_store",
           "redact_url"]
DB_FILE = "etl-triage.db"


def database_url(database_url: str | None, state_dir: str | Path) -> str:
    """ETL_TRIAGE_DATABASE_URL if set, else the SQLite file `etl-triage.db` in the state directory."""
    if database_url:
        return database_url
    return "sqlite:///" + str(Path(state_dir).expanduser().resolve() / DB_FILE)


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative/file.db` or `sqlite:////absolute/file.db` (as SQLAlchemy spells them)."""
    rest = url[len("sqlite:///"):]
    if not rest:
        raise StoreError(f"{url!r} names no file; use sqlite:///path/to/etl-triage.db")
    return Path(rest).expanduser()


async def open_store(url: str, *, clock: Callable[[], float] = time.time, migrate: bool = True,
                     pool_size: int = 8) -> Store:
    """Connect and (by default) apply pending migrations. Unreachable or unusable: a StoreError saying what
    to do, never a traceback."""
    shown = redact_url(url)
    if url.startswith("sqlite:///"):
        backend: SqliteBackend | PostgresBackend = SqliteBackend(sqlite_path(url))
        hint = "check that the directory is writable (ETL_TRIAGE_STATE_DIR) or set ETL_TRIAGE_DATABASE_URL"
    elif url.startswith(("postgresql://", "postgres://")):
        backend = PostgresBackend(url, shown, max_size=pool_size)
        hint = ("start the server or fix ETL_TRIAGE_DATABASE_URL; unset it to keep state in a SQLite file in "
                "ETL_TRIAGE_STATE_DIR")
    else:
        raise StoreError(f"ETL_TRIAGE_DATABASE_URL {shown!r} is neither sqlite:///PATH nor postgresql://…")
    try:
        await backend.open()
        store = Store(backend, clock)
        if migrate:
            await store.upgrade()
    except StoreError:
        await backend.close()
        raise
    except Exception as e:  # driver errors: connection refused, auth, permissions, a corrupt file
        await backend.close()
        detail = " ".join(str(e).split()) or type(e).__name__
        raise StoreError(f"state database {shown} is unreachable or unusable ({detail}); {hint}") from None
    return store
