"""Engine settings per backend (SQLite gets WAL and enforced foreign keys), and statements run on
the driver's cursor for the path every message takes (DriverStatement)."""
import time
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.pool import Pool

from .search_words import index_text


def engine_options(url: str, connections: int = 30) -> dict:
    """connections: the most this process opens at once (PostgreSQL); beyond them a checkout
    waits for one to come back, where a connection past the server's max_connections fails."""
    if url.startswith("sqlite"):
        # Several greenlets share the file; wait for the writer instead of failing at once.
        return {"connect_args": {"timeout": 15}}
    # Pinged on checkout only after idling (_ping_if_idle), not as pool_pre_ping does, every
    # time: a socket's frame checks a connection out per send. Last in, first out: the
    # connection used last (known alive) is used next.
    kept = min(10, connections)
    return {"pool_size": kept, "max_overflow": connections - kept, "pool_use_lifo": True}


# A connection back in the pool within this long is taken as alive: a server restarted meanwhile
# fails one statement, whose disconnect error invalidates every pooled connection (SQLAlchemy's
# pool invalidation), and the page retries (a send with its client id: never stored twice).
PING_AFTER_IDLE_SECONDS = 5.0


@event.listens_for(Pool, "checkin")
def _note_checkin(dbapi_connection, connection_record):
    connection_record.info["checked_in_at"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, connection_record, connection_proxy):
    """PostgreSQL (psycopg): a connection that idled in the pool, or whose socket broke, is pinged
    (SELECT 1 in autocommit: no transaction left open); a dead one is replaced by the pool."""
    if not type(dbapi_connection).__module__.startswith("psycopg"):
        return
    checked_in = connection_record.info.get("checked_in_at")
    if checked_in is None:
        return  # just connected
    if not dbapi_connection.broken and time.monotonic() - checked_in < PING_AFTER_IDLE_SECONDS:
        return
    try:
        autocommit = dbapi_connection.autocommit  # as the engine set it (an AUTOCOMMIT engine's stays on)
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SELECT 1")
        dbapi_connection.autocommit = autocommit
    except Exception as e:  # noqa: BLE001 - any failure: the pool connects anew
        raise DisconnectionError(f"pooled connection is gone: {e}") from e


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        register_search_words(dbapi_connection)


def register_search_words(sqlite_connection) -> None:
    """The function the search index's triggers call (migration 0009): a connection without it
    cannot store, edit or delete a message."""
    sqlite_connection.create_function("webchat_search_words", 2, index_text, deterministic=True)


@contextmanager
def as_sqlalchemy_errors(dialect):
    """Driver errors raised as SQLAlchemy's (DBAPIError and its kinds), as a Session raises them,
    for work on a pooled driver connection (Engine.raw_connection()) beyond DriverStatement: its
    checkout, commit and settings. The front doors answer those as "database unavailable"."""
    try:
        yield
    except dialect.loaded_dbapi.Error as e:
        raise DBAPIError.instance(None, None, e, dialect.loaded_dbapi.Error, dialect=dialect) from e


class DriverStatement:
    """A Core statement run on the database driver's own cursor, in the caller's transaction.

    On the path every message takes, SQLAlchemy's execution of a statement (an execution context,
    parameter and result processing, events) cost more CPU on top of the driver's call
    than SQLite's own work for a small statement. The statement is still written in Core and
    compiled by SQLAlchemy, once per dialect; running it is one cursor call on the Session's
    connection, with the column types' own bind processors (SQLite keeps datetimes as text), and
    driver errors raised as SQLAlchemy's (IntegrityError, OperationalError…), as
    Connection.execute raises them. No events fire for these statements, and rows are plain tuples.
    """

    __slots__ = ("statement", "_compiled")

    def __init__(self, statement) -> None:
        self.statement = statement
        self._compiled: dict = {}

    def rows(self, connection, params: dict) -> list[tuple]:
        """Run it on an SQLAlchemy Connection (db.session.connection()); all its rows."""
        return self.run(connection.dialect, connection.connection, params)

    def on_pool(self, engine, params: dict) -> list[tuple]:
        """Run it on a pooled driver connection of engine, taken and given back around it (no ORM
        transaction to set up and end, nor an engine Connection), its errors SQLAlchemy's."""
        with as_sqlalchemy_errors(engine.dialect):
            driver = engine.raw_connection()
            try:
                return self.run(engine.dialect, driver, params)
            finally:
                driver.close()  # back to the pool, its read transaction ended (the pool's reset)

    def run(self, dialect, dbapi_connection, params: dict) -> list[tuple]:
        """Run it on a driver connection (a pooled one: Engine.raw_connection()); all its rows."""
        compiled = self._compiled.get(dialect)
        if compiled is None:
            compiled = self._compiled[dialect] = self._compile(dialect)
        sql, names, processors, returns_rows = compiled
        if names is not None:  # positional ("?"): in the compiled order
            parameters = [params[name] for name in names]
            for index, process in processors:
                parameters[index] = process(parameters[index])
        else:  # named ("%(name)s")
            parameters = params
            if processors:
                parameters = dict(params)
                for name, process in processors:
                    parameters[name] = process(parameters[name])
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(sql, parameters)
            if returns_rows is None:
                # Asked once: psycopg builds the description's columns anew each time (~10 µs).
                returns_rows = compiled[3] = cursor.description is not None
            return cursor.fetchall() if returns_rows else []
        except dialect.loaded_dbapi.Error as e:
            raise DBAPIError.instance(sql, parameters, e, dialect.loaded_dbapi.Error, dialect=dialect) from e
        finally:
            cursor.close()

    def _compile(self, dialect) -> list:
        compiled = self.statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("DriverStatement cannot run expanding or literal-execute parameters")
        processors = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                      for name, bind in compiled.binds.items()}
        names = compiled.positiontup
        if names is not None:  # and whether it returns rows, known once run
            return [compiled.string, list(names), [(i, processors[n]) for i, n in enumerate(names) if processors[n]],
                    None]
        return [compiled.string, None, [(n, p) for n, p in processors.items() if p], None]
