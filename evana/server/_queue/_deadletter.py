"""Dead letters: the headers a dead-lettered batch carries, and the ledger of first failures.

A dead letter is a message on ``<prefix>.dlq`` whose payload is the batch format of
:mod:`._codec` (only the events that failed) and whose headers say why::

    Evana-Error           the last error, one line
    Evana-Error-Kind      transient (retries ran out), permanent (the database refuses the
                          events themselves) or undecodable (not an evana message)
    Evana-Attempts        deliveries that failed, the first one included
    Evana-First-Failure   ISO 8601 UTC time of the first failed attempt
    Evana-Last-Failure    ISO 8601 UTC time of the last one
    Evana-Events          number of events in the payload
    Evana-Batch-Id        the batch the events were published in
    Evana-Source-Seq      the ingest stream sequence of the message they came from

**First failure time.** A JetStream redelivery is the same message: nothing written on the
first failure travels with it, and the message's own timestamp is when it was *published*, not
when it first failed (a backlog can sit for hours before its first attempt). So the first
failure is recorded where every worker can read it: the key-value bucket
``<PREFIX>_RETRIES``, keyed by the message's stream sequence, written with *create* (the first
writer wins, even with several workers or a crash in between) and deleted once the message is
written or dead-lettered. Entries left by a crash at the wrong instant expire with the bucket's
TTL (a day at least, and several retry schedules).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Literal

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

from evana.server._logging import quote

__all__ = ["DeadLetter", "ErrorKind", "RetryLedger", "one_line"]

log = logging.getLogger("evana.worker")

ErrorKind = Literal["transient", "permanent", "undecodable"]

_PREFIX = "Evana-"
_MAX_ERROR = 1000


def one_line(text: str) -> str:
    """``text`` fit for a header: one line, at most 1000 characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_ERROR else flat[: _MAX_ERROR - 1] + "…"


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """What a dead-letter message's headers say about it.

    >>> failed = dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.UTC)
    >>> letter = DeadLetter("boom", "transient", 6, failed, failed, 3, "ab12", 7)
    >>> DeadLetter.from_headers(letter.headers()) == letter
    True
    """

    error: str
    kind: ErrorKind
    attempts: int
    first_failure: dt.datetime
    last_failure: dt.datetime
    events: int
    batch_id: str
    source_seq: int

    def headers(self) -> dict[str, str]:
        """The message headers (without ``Nats-Msg-Id``)."""
        return {
            f"{_PREFIX}Error": one_line(self.error),
            f"{_PREFIX}Error-Kind": self.kind,
            f"{_PREFIX}Attempts": str(self.attempts),
            f"{_PREFIX}First-Failure": self.first_failure.isoformat(),
            f"{_PREFIX}Last-Failure": self.last_failure.isoformat(),
            f"{_PREFIX}Events": str(self.events),
            f"{_PREFIX}Batch-Id": self.batch_id,
            f"{_PREFIX}Source-Seq": str(self.source_seq),
        }

    @classmethod
    def from_headers(cls, headers: dict[str, str] | None) -> DeadLetter:
        """Read the headers back; missing ones (a hand-published message) get neutral values."""
        get = (headers or {}).get
        last = _time(get(f"{_PREFIX}Last-Failure")) or dt.datetime.fromtimestamp(0, dt.UTC)
        kind = get(f"{_PREFIX}Error-Kind", "transient")
        return cls(
            error=get(f"{_PREFIX}Error", ""),
            kind=kind if kind in ("permanent", "undecodable") else "transient",  # type: ignore[arg-type]
            attempts=int(get(f"{_PREFIX}Attempts", "0")),
            first_failure=_time(get(f"{_PREFIX}First-Failure")) or last,
            last_failure=last,
            events=int(get(f"{_PREFIX}Events", "0")),
            batch_id=get(f"{_PREFIX}Batch-Id", ""),
            source_seq=int(get(f"{_PREFIX}Source-Seq", "0")),
        )


class RetryLedger:
    """When each failing ingest message first failed, shared by all workers (see above).

    Every method swallows NATS errors after logging them: the ledger only feeds a header, and
    losing an entry must never stop a batch from being retried or dead-lettered.
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def first_failure(self, seq: int, now: dt.datetime) -> dt.datetime:
        """Record ``now`` as message ``seq``'s first failure unless one is recorded; return it."""
        key = str(seq)
        try:
            await self._kv.create(key, now.isoformat().encode())
            return now
        except nats.js.errors.KeyWrongLastSequenceError:
            pass  # recorded by an earlier attempt: read it below
        except (nats.errors.Error, TimeoutError) as exc:
            log.warning("msg=retry_ledger_unavailable seq=%d error=%s", seq, quote(exc))
            return now
        try:
            entry = await self._kv.get(key)
        except (nats.errors.Error, TimeoutError) as exc:
            log.warning("msg=retry_ledger_unavailable seq=%d error=%s", seq, quote(exc))
            return now
        return _time(entry.value.decode() if entry.value else None) or now

    async def forget(self, seq: int) -> None:
        """Drop message ``seq``'s entry (it was written or dead-lettered)."""
        try:
            await self._kv.purge(str(seq))
        except (nats.errors.Error, TimeoutError) as exc:
            log.debug("msg=retry_ledger_forget_failed seq=%d error=%s", seq, quote(exc))
