"""The storage layer: every SQL statement of evana lives under this package."""

from ._bitmaps import BitmapCache
from ._browse import events_by_day, newest_events
from ._compaction import COMPACT_AFTER, Compactor, compact, settle
from ._database import Database
from ._dialect import classify_error, is_database_error, json_value
from ._erasure import Erasure, erase_user, user_events
from ._events import EventStore, WriteResult
from ._insight_rows import EventRows, Wanted, load_event_rows
from ._keys import KeyRecord, KeyRepository
from ._migrate import current_revision, head_revision, upgrade
from ._numbers import PERCENTILES, Summary
from ._partitions import Month, add_months, drop_months, keep_months_ahead, partition_events
from ._persons import PersonDirectory, PersonMap, PersonRecord, read_person
from ._properties import MISSING as MISSING_VALUE
from ._properties import PropertyReader, backfill, sync_tracked
from ._rollups import RollupReader
from ._tables import ALL_EVENTS, PERSON_EVENTS, metadata
from ._times import backfill_times, read_times, times_to_build

__all__ = [
    "ALL_EVENTS",
    "COMPACT_AFTER",
    "MISSING_VALUE",
    "PERCENTILES",
    "PERSON_EVENTS",
    "BitmapCache",
    "Compactor",
    "Database",
    "Erasure",
    "EventRows",
    "EventStore",
    "KeyRecord",
    "KeyRepository",
    "Month",
    "PersonDirectory",
    "PersonMap",
    "PersonRecord",
    "PropertyReader",
    "RollupReader",
    "Summary",
    "Wanted",
    "WriteResult",
    "add_months",
    "backfill",
    "backfill_times",
    "classify_error",
    "compact",
    "create_schema",
    "current_revision",
    "drop_months",
    "erase_user",
    "events_by_day",
    "head_revision",
    "is_database_error",
    "json_value",
    "keep_months_ahead",
    "load_event_rows",
    "metadata",
    "newest_events",
    "partition_events",
    "read_person",
    "read_times",
    "settle",
    "sync_tracked",
    "times_to_build",
    "upgrade",
    "user_events",
]


def create_schema(db: Database) -> None:
    """Create the tables straight from the metadata (fast, for in-memory test databases).

    Real databases use :func:`upgrade`; a test proves both give the same schema.
    """
    metadata.create_all(db.engine)
