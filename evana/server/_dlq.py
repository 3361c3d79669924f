"""The dead-letter queue as an operator sees it: list, show, replay, purge (``evana dlq``).

An entry's id is its sequence number in the dead-letter stream. Replaying republishes the
entry's events to the ingest subject and deletes the entry only once JetStream acknowledged
the republish; events keep their ids, so replaying an entry twice (or one whose events were
written meanwhile) counts nothing twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import nats.errors
import nats.js.errors
import nats.nuid
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from evana._settings import Settings
from evana.errors import NotFoundError
from evana.server._batch import NormalizedEvent

from ._queue import Names
from ._queue._codec import decode
from ._queue._deadletter import DeadLetter
from ._queue._jetstream import connect, unavailable

__all__ = ["DeadLetterEntry", "DeadLetterQueue"]

_PAGE = 256


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    """One dead letter: its id, what its headers say and (when read whole) its events."""

    id: int
    letter: DeadLetter
    events: list[NormalizedEvent] | None = None

    def summary(self) -> dict[str, Any]:
        """The ``evana dlq list --format json`` shape of DESIGN.md."""
        return {
            "id": self.id,
            "events": self.letter.events,
            "error": self.letter.error,
            "attempts": self.letter.attempts,
            "failed_at": _iso(self.letter.last_failure),
        }

    def details(self) -> dict[str, Any]:
        """Everything about the entry (``evana dlq show --format json``)."""
        return {
            **self.summary(),
            "kind": self.letter.kind,
            "first_failed_at": _iso(self.letter.first_failure),
            "batch_id": self.letter.batch_id,
            "source_seq": self.letter.source_seq,
            "data": [_wire(event) for event in self.events or []],
        }


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _wire(event: NormalizedEvent) -> dict[str, Any]:
    """An event as the API takes it, so ``evana dlq show`` output can be sent again."""
    return {
        "event_id": str(event.event_id),
        "event": event.event,
        "user_id": event.user_id,
        "timestamp": _iso(event.timestamp),
        "properties": event.properties,
    }


class DeadLetterQueue:
    """``async with DeadLetterQueue(settings) as dlq:`` — talks to NATS directly.

    Fails fast (no reconnecting) with QueueUnavailableError when NATS does not answer.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.names = Names.of(settings.nats_subject_prefix)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    async def __aenter__(self) -> DeadLetterQueue:
        self._nc = await connect(self.settings, reconnect=False)
        self._js = self._nc.jetstream(timeout=self.settings.publish_timeout_seconds)
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self._nc is not None:
            await self._nc.close()

    @property
    def js(self) -> JetStreamContext:
        """The JetStream context (inside ``async with`` only)."""
        assert self._js is not None, "use DeadLetterQueue inside `async with`"
        return self._js

    async def entries(self) -> list[DeadLetterEntry]:
        """Every entry, oldest first, from the headers only (payloads stay on the server)."""
        try:
            info = await self.js.stream_info(self.names.dlq_stream)
        except nats.js.errors.NotFoundError:
            return []  # no API or worker ever ran with this prefix: nothing dead-lettered
        except (nats.errors.Error, TimeoutError) as exc:
            raise unavailable(exc, "cannot read the dead-letter stream") from None
        if not info.state.messages:
            return []
        name = f"evana-dlq-list-{nats.nuid.NUID().next().decode()}"
        config = ConsumerConfig(
            name=name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            headers_only=True,
            inactive_threshold=30,
        )
        entries: list[DeadLetterEntry] = []
        try:
            await self.js.add_consumer(self.names.dlq_stream, config)
            sub = await self.js.pull_subscribe_bind(name, stream=self.names.dlq_stream)
            while True:
                try:
                    msgs = await sub.fetch(_PAGE, timeout=2)
                except TimeoutError:
                    break
                entries.extend(
                    DeadLetterEntry(m.metadata.sequence.stream, DeadLetter.from_headers(m.headers))
                    for m in msgs
                )
                if not msgs or msgs[-1].metadata.num_pending == 0:
                    break
            await sub.unsubscribe()
            await self.js.delete_consumer(self.names.dlq_stream, name)
        except (nats.errors.Error, TimeoutError) as exc:
            raise unavailable(exc, "cannot read the dead-letter stream") from None
        return entries

    async def show(self, entry_id: int) -> DeadLetterEntry:
        """One entry with its events; NotFoundError when there is none with that id."""
        data, headers = await self._get(entry_id)
        try:
            events = decode(data).events
        except ValueError:
            events = []  # an undecodable message: its headers say so
        return DeadLetterEntry(entry_id, DeadLetter.from_headers(headers), events)

    async def replay(self, entry_id: int) -> DeadLetterEntry:
        """Republish an entry to the ingest subject, then delete it; return what was replayed."""
        data, headers = await self._get(entry_id)
        try:
            await self.js.publish(
                self.names.ingest_subject,
                data,
                stream=self.names.stream,
                headers={"Nats-Msg-Id": f"replay-{self.names.dlq_stream}-{entry_id}"},
            )
            await self.js.delete_msg(self.names.dlq_stream, entry_id)
        except (nats.errors.Error, TimeoutError) as exc:
            raise unavailable(exc, f"cannot replay dead letter {entry_id}") from None
        return DeadLetterEntry(entry_id, DeadLetter.from_headers(headers))

    async def replay_all(self) -> list[DeadLetterEntry]:
        """Replay every entry, oldest first."""
        return [await self.replay(entry.id) for entry in await self.entries()]

    async def purge(self) -> int:
        """Delete every entry; return how many there were."""
        try:
            info = await self.js.stream_info(self.names.dlq_stream)
            await self.js.purge_stream(self.names.dlq_stream)
        except nats.js.errors.NotFoundError:
            return 0
        except (nats.errors.Error, TimeoutError) as exc:
            raise unavailable(exc, "cannot purge the dead-letter stream") from None
        return info.state.messages

    async def _get(self, entry_id: int) -> tuple[bytes, dict[str, str]]:
        try:
            raw = await self.js.get_msg(self.names.dlq_stream, entry_id)
        except nats.js.errors.NotFoundError:
            raise NotFoundError(
                f"no dead letter with id {entry_id} (see `evana dlq list`)"
            ) from None
        except (nats.errors.Error, TimeoutError) as exc:
            raise unavailable(exc, f"cannot read dead letter {entry_id}") from None
        return raw.data or b"", dict(raw.headers or {})
