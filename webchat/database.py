"""Engine settings per backend: SQLite gets WAL and enforced foreign keys."""
from sqlalchemy import event
from sqlalchemy.engine import Engine


def engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Several greenlets share the file; wait for the writer instead of failing at once.
        return {"connect_args": {"timeout": 15}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
