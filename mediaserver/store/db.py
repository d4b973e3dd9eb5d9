"""The control plane's database: an async SQLAlchemy engine, its sessions, and Alembic migrations run at
start.

SQLite (aiosqlite) is the embedded default; PostgreSQL (asyncpg) is supported. Every write that spans rows
goes through one :meth:`Database.tx` block, which is one transaction.

On SQLite a writing transaction takes the one write lock when it begins (BEGIN IMMEDIATE), and every other
writer waits for it; reads (:meth:`Database.read_only`, and :meth:`Database.run` with ``read_mostly``) begin
DEFERRED and take no lock in WAL mode, so they never queue behind a writer (issue 14 finding 3). Nothing slow
(a password hash, a network call) runs inside a writing transaction.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, DateTime, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from mediaserver.store import sealed

MIGRATIONS = Path(__file__).parent / "migrations"

T = TypeVar("T")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


async def paged(
    s: AsyncSession, model: type[T], where: ColumnElement[bool], *order: Any, offset: int, limit: int
) -> tuple[list[T], int]:
    """(a page of ``model``'s rows that match ``where``, in ``order``; how many match in all)."""
    total = await s.scalar(select(func.count()).select_from(model).where(where))
    rows = await s.scalars(select(model).where(where).order_by(*order).offset(offset).limit(limit))
    return list(rows), int(total or 0)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite (naive storage) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return (
            value.replace(tzinfo=dt.timezone.utc)
            if value.tzinfo is None
            else value.astimezone(dt.timezone.utc)
        )


class Base(DeclarativeBase):
    pass


class Database:
    """One engine per server; sessions are short and each :meth:`tx` is a single transaction."""

    def __init__(self, url: str, key: bytes | None = None) -> None:
        """``key``: the sealing key of the secrets kept in the database (mediaserver.store.sealed.load_key);
        without one, reading or writing a sealed column fails."""
        self.url = make_url(url)
        kwargs: dict[str, Any] = {}
        if self.url.get_backend_name() == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                _private_sqlite(Path(self.url.database))
            kwargs["connect_args"] = {"timeout": 30}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if key is not None:
            sealed.register(self.engine.sync_engine.dialect, key)
        if self.url.get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # the same pool, its transactions begun DEFERRED on SQLite (see _sqlite_begin)
        self.read_sessions = async_sessionmaker(
            self.engine.execution_options(**{DEFERRED: True}), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed at the end, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session outside :meth:`tx` (some callers commit a small write in it: begun IMMEDIATE)."""
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def read_only(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads: on SQLite it begins DEFERRED, takes no lock and never waits for a
        writer; nothing it changes is committed, or even flushed (a read that marks an API key used must
        not ask for the write lock: in WAL mode a DEFERRED reader cannot take it once another writer went
        first)."""
        async with self.read_sessions() as session:
            with session.no_autoflush:
                yield session

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], read_mostly: bool = False) -> T:
        """``work(session)`` in one transaction, committed at the end. ``read_mostly`` (on SQLite): the
        transaction begins without the write lock, so it does not wait for writers; if it writes after all
        and SQLite cannot give it the lock (another writer came first: "database is locked"), it is rolled
        back and ``work`` runs again in an ordinary writing transaction, so it must have no effect outside
        the session."""
        if read_mostly and self.dialect == "sqlite":
            try:
                async with self.read_sessions() as session, session.begin():
                    return await work(session)
            except OperationalError as e:
                if "database is locked" not in str(e.orig):
                    raise
        async with self.tx() as session:
            return await work(session)

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (run at every start)."""
        async with self.engine.connect() as conn:
            await conn.run_sync(_alembic, "upgrade", "head")

    async def downgrade(self, revision: str) -> None:
        """Take the schema back to ``revision`` (an operator's way back; tests of the migrations)."""
        async with self.engine.connect() as conn:
            await conn.run_sync(_alembic, "downgrade", revision)

    async def close(self) -> None:
        await self.engine.dispose()


def _private_sqlite(path: Path) -> None:
    """The database file readable by the server's user only (0600), whatever the umask (issue 14 finding
    11): made empty with that mode before SQLite opens it (SQLite gives its -wal and -shm files the mode of
    the database file), or narrowed to it when an older start left it open."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            st = f.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o077:
            f.chmod(0o600)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own transaction handling is turned off so that SQLAlchemy's BEGIN (below), savepoints and
    # transactional DDL work as on PostgreSQL (the SQLAlchemy documentation's recipe for pysqlite/aiosqlite).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE needs it on SQLite
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


DEFERRED = "mediaserver_deferred"  # execution option of the read sessions' engine


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE: a transaction takes the write lock when it starts, so two of them never both read and then
    # fail to upgrade to writing (SQLITE_BUSY); they queue on busy_timeout instead. Reads begin DEFERRED:
    # in WAL mode they take no lock at all, and do not wait behind a writer (issue 14 finding 3).
    deferred = conn.get_execution_options().get(DEFERRED)
    conn.exec_driver_sql("BEGIN DEFERRED" if deferred else "BEGIN IMMEDIATE")


def alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


MIGRATION_LOCK = 0x4D53_4D49_4752  # the PostgreSQL advisory lock of the schema's migrations ("MSMIGR")


def _alembic(sync_conn: Any, direction: str, revision: str) -> None:
    """Run the migrations to ``revision`` in one transaction. On SQLite, foreign keys are not enforced
    meanwhile: a migration that changes a column's type rebuilds its table (batch mode: a copy, DROP, RENAME),
    and the DROP of a table with foreign keys on would delete the rows of every table that refers to it
    (ON DELETE CASCADE). The pragma works only outside a transaction, so it is set before the BEGIN."""
    from alembic import command

    sqlite = sync_conn.dialect.name == "sqlite"
    if sqlite:
        sync_conn.connection.dbapi_connection.cursor().execute("PRAGMA foreign_keys=OFF")
    try:
        with sync_conn.begin():
            if sync_conn.dialect.name == "postgresql":
                # issue 19: the nodes of a cluster may start at once against their one database: one of them
                # migrates, the others wait here (until its commit) and then find nothing left to do
                sync_conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            getattr(command, direction)(alembic_config(sync_conn), revision)
            if sqlite:
                broken = sync_conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(
                        f"the migration left rows whose foreign keys point nowhere: {broken[:5]}"
                    )
    finally:
        if sqlite:
            sync_conn.connection.dbapi_connection.cursor().execute("PRAGMA foreign_keys=ON")


def drop_unreflected_fk_options(context: Any, _revision: Any, directives: list[Any]) -> None:
    """Autogenerate hook (env.py): on SQLite, take out the drop-and-recreate pair of a foreign key whose ON
    DELETE / ON UPDATE the database has but SQLAlchemy does not reflect, nothing else.

    SQLAlchemy reads those options from a table-level ``FOREIGN KEY`` clause only; a column added with an
    inline ``REFERENCES ... ON DELETE SET NULL`` (events.video_file_id, migration 0002) reflects without them.
    The pair is dropped only when ``PRAGMA foreign_key_list`` shows exactly the model's options, so a real
    change still shows.
    """
    from alembic.operations import ops

    if context.dialect.name != "sqlite" or not directives:
        return
    script = directives[0]
    for upgrade_ops, downgrade_ops in zip(script.upgrade_ops_list, script.downgrade_ops_list, strict=True):
        changed = False
        for table_ops in [t for t in upgrade_ops.ops if isinstance(t, ops.ModifyTableOps)]:
            drops = [
                o
                for o in table_ops.ops
                if isinstance(o, ops.DropConstraintOp) and o.constraint_type == "foreignkey"
            ]
            creates = [o for o in table_ops.ops if isinstance(o, ops.CreateForeignKeyOp)]
            for drop in drops:
                reflected = ops.CreateForeignKeyOp.from_constraint(drop.to_constraint())
                twin = next((c for c in creates if _same_fk(reflected, c)), None)
                if twin is not None and _options_in_db(context.connection, twin):
                    table_ops.ops.remove(drop)
                    table_ops.ops.remove(twin)
                    creates.remove(twin)
                    changed = True
        if changed:
            upgrade_ops.ops = [
                t for t in upgrade_ops.ops if not (isinstance(t, ops.ModifyTableOps) and t.is_empty())
            ]
            upgrade_ops.reverse_into(downgrade_ops)


_FK_OPTIONS = ("ondelete", "onupdate")


def _same_fk(reflected: Any, model: Any) -> bool:
    """The same key but for options the reflection left out (it found none; the model has nothing else)."""
    extra = {k: v for k, v in model.kw.items() if v is not None and k not in _FK_OPTIONS}
    return (
        not any(reflected.kw.get(k) for k in _FK_OPTIONS)
        and not extra
        and (reflected.source_table, reflected.local_cols, reflected.referent_table, reflected.remote_cols)
        == (model.source_table, model.local_cols, model.referent_table, model.remote_cols)
    )


def _options_in_db(conn: Any, model: Any) -> bool:
    """Whether SQLite's own record of the key (PRAGMA foreign_key_list) has the model's ON DELETE / ON
    UPDATE."""
    keys: dict[int, dict[str, Any]] = {}
    for fid, _seq, table, src, dst, on_update, on_delete, _match in conn.exec_driver_sql(
        f'PRAGMA foreign_key_list("{model.source_table}")'
    ):
        key = keys.setdefault(
            fid, {"table": table, "src": [], "dst": [], "update": on_update, "delete": on_delete}
        )
        key["src"].append(src)
        key["dst"].append(dst)
    want = {
        "table": model.referent_table,
        "src": list(model.local_cols),
        "dst": list(model.remote_cols),
        "update": (model.kw.get("onupdate") or "NO ACTION").upper(),
        "delete": (model.kw.get("ondelete") or "NO ACTION").upper(),
    }
    return want in keys.values()
