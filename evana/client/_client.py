"""``evana.Client``: ``track()`` queues, one background thread sends, nothing is lost at exit.

The thread is started by the first event, so a client that never tracks (or a forked child that
never tracks) costs no thread. It is a daemon, so a hung request can never keep the process
alive; what it still holds at exit is sent by the exit hook within ``shutdown_timeout``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, Unpack

from pydantic import BaseModel

from evana.schema import Event, IngestResult

from . import _lifecycle
from ._config import ClientKwargs, ClientOptions
from ._core import Core
from ._encode import encode_prepared
from ._identity import ALIAS, IDENTIFY, alias_properties, identify_properties
from ._persons import Persons
from ._query import Query
from ._queue import FULL, QUEUED, READY, Item, Put
from ._reporting import ClientMetrics
from ._stats import Stats
from ._transport import HTTPTransport, Transport

__all__ = ["Client"]

log = logging.getLogger("evana.client")

Model = TypeVar("Model", bound=BaseModel)


class Client:
    """Send events to evana from any Python program; read its reports.

    ``track()`` validates an event, queues it and returns its id at once; a background thread
    sends batches (gzip, retries with backoff, local dedup). See ``ClientOptions`` for options.

    >>> import evana
    >>> client = evana.Client("http://127.0.0.1:8000", "key", disabled=True)
    >>> client.track("signup", user_id="u_42", properties={"plan": "pro"}).version
    7
    >>> client.close()
    True
    """

    def __init__(
        self, url: str | None = None, api_key: str | None = None, **options: Unpack[ClientKwargs]
    ) -> None:
        self._core = Core(ClientOptions.build(url, api_key, **options))
        self._sync_mode = self._core.options.sync_mode
        self._transport = self._make_transport()
        self._init_threading()
        self.stats = Stats(self._fetch)
        self.query = Query(self._post)
        self.persons = Persons(self._fetch)
        _lifecycle.register(self)

    def _make_transport(self) -> Transport:
        return self._core.transport(Transport, HTTPTransport, "handle_request")  # type: ignore[type-abstract]

    def _init_threading(self) -> None:
        self._start_lock = threading.Lock()
        self._wake = threading.Event()  # a full batch, a flush or a close: the sender must look
        self._idle = threading.Condition()  # the sender took or finished a batch
        self._abandon = threading.Event()  # closing past its deadline: stop waiting to retry
        self._sender: threading.Thread | None = None
        self._flushing = 0
        self._stopping = False

    def _fetch(self, path: str, params: Mapping[str, str], model: type[Model]) -> Model:
        return self._core.get(self._transport, path, params, model, self._abandon.wait)

    def _post(self, path: str, body: Mapping[str, Any], model: type[Model]) -> Model:
        return self._core.post(self._transport, path, body, model, self._abandon.wait)

    @property
    def metrics(self) -> ClientMetrics:
        """Counters of what this client did (tracked, delivered, dropped, ...)."""
        return self._core.metrics()

    def track(
        self,
        event: str,
        user_id: str | int,
        properties: Mapping[str, Any] | None = None,
        timestamp: dt.datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Queue one event and return its id (a new UUIDv7 unless ``event_id`` is given).

        Never waits on the network. An invalid event is reported to ``on_error`` and counted,
        and raises ``InvalidEventError`` only with ``strict=True``; a full queue follows
        ``on_full``. Tracking the id of an event queued or sent recently does nothing. An
        integer ``user_id`` is sent as its text (``42`` as ``"42"``).

        >>> import evana
        >>> with evana.Client("http://127.0.0.1:8000", "key", disabled=True) as client:
        ...     _ = client.track("purchase", "u_42", {"amount": 9.9})
        """
        core = self._core
        try:
            event_id, item = core.admit(event, user_id, properties, timestamp, event_id)
            if item is not None:
                if self._sender is None and not self._sync_mode:
                    self._start()
                put = core.offer(item)
                if put is not QUEUED or self._sync_mode:
                    self._after_put(put, item)
        except Exception as exc:
            return core.track_failed(exc, event_id)
        return event_id

    def identify(
        self,
        user_id: str | int,
        anonymous_id: str | int | None = None,
        set: Mapping[str, Any] | None = None,
        set_once: Mapping[str, Any] | None = None,
        *,
        timestamp: dt.datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Say who a user is: queue an ``$identify`` event for ``user_id``; return its id.

        ``anonymous_id`` (the id used before sign-in) is linked to ``user_id``: from then on
        every report counts them as one person, retroactively. ``set`` sets person
        properties (the latest value wins), ``set_once`` only those not set before. Like
        ``track()`` it never waits on the network and never raises into the application.

        >>> import evana
        >>> with evana.Client("http://127.0.0.1:8000", "key", disabled=True) as client:
        ...     client.identify("u_42", anonymous_id="anon_1", set={"plan": "pro"}).version
        7
        """
        properties = identify_properties(anonymous_id, set, set_once)
        return self.track(IDENTIFY, user_id, properties, timestamp, event_id)

    def alias(
        self,
        previous_id: str | int,
        user_id: str | int,
        *,
        timestamp: dt.datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Link ``previous_id`` to ``user_id`` (one person from then on, retroactively):
        queue a ``$create_alias`` event for ``user_id``; return its id.

        The argument order of posthog-python's and Segment's ``alias(previous_id, user_id)``.
        Never waits on the network and never raises into the application.

        >>> import evana
        >>> with evana.Client("http://127.0.0.1:8000", "key", disabled=True) as client:
        ...     client.alias("anon_1", "u_42").version
        7
        """
        return self.track(ALIAS, user_id, alias_properties(previous_id), timestamp, event_id)

    def _after_put(self, put: Put, item: Item) -> None:
        core = self._core
        while put is FULL:  # on_full="block": wait until the sender takes a batch
            if threading.current_thread() is self._sender:
                core.refuse(item)  # from a callback on the sender: only it can make room
                return
            self._wake.set()
            with self._idle:
                self._idle.wait_for(lambda: core.queue.has_room() or core.closed)
            if core.closed:
                core.report.drop([item[1]], "closed")
                return
            put = core.offer(item)
        if put is READY and not self._wake.is_set():
            self._wake.set()
        if self._sync_mode:
            # Inline: this thread sends what is queued (its own event, and any other thread's).
            core.drain(self._transport, self._abandon.wait)

    def _start(self) -> None:
        with self._start_lock:
            if self._sender is None and not self._stopping:
                sender = threading.Thread(target=self._run, name="evana-sender", daemon=True)
                sender.start()
                self._sender = sender
                _lifecycle.sender_started()

    def _run(self) -> None:
        core, interval = self._core, self._core.options.flush_interval
        while True:
            try:
                self._wake.clear()
                idle = core.idle(flushing=self._flushing > 0, stopping=self._stopping)
                if idle is None:
                    return
                if idle:
                    self._wake.wait(interval)
                batch = core.queue.take()
                if not batch:
                    continue
                self._notify()  # room for a blocked track()
                core.deliver(self._transport, batch, self._abandon.wait)
                self._notify()  # flush() waits for this
            except Exception:  # a bug here must not end the sender and strand the queue
                log.exception("evana: the sender failed; it carries on")
                time.sleep(interval)

    def _notify(self) -> None:
        with self._idle:
            self._idle.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True when all of it was delivered within ``timeout``.

        False when the time ran out, or when some of it was rejected or failed (those events
        went to ``on_error``).
        """
        core = self._core
        if threading.current_thread() is self._sender:
            return False  # called from a callback on the sender: waiting would wait for itself
        if core.queue.pending == 0:
            return True
        before = core.report.trouble()
        with self._idle:
            self._flushing += 1
            try:
                self._wake.set()
                drained = self._idle.wait_for(lambda: core.queue.pending == 0, timeout)
            finally:
                self._flushing -= 1
        return drained and core.report.trouble() == before

    def send_batch(self, events: Sequence[Event | Mapping[str, Any]]) -> IngestResult:
        """Send ``events`` now as one batch, bypassing the queue; blocking, retrying, thread-safe.

        ``Event`` instances go as they are; mappings are made JSON-safe and left for the
        server to judge, so rejects come back by index in the result. Raises the
        :mod:`evana.errors` class of the final failure (e.g. ``PayloadTooLargeError``).

        >>> import evana
        >>> from evana.client import MockTransport, Response
        >>> ok = MockTransport(lambda r: Response(202, {}, b'{"accepted": 1, "rejected": []}'))
        >>> with evana.Client("http://127.0.0.1:8000", "key", transport=ok) as client:
        ...     client.send_batch([{"event": "signup", "user_id": "u_42"}]).accepted
        1
        """
        items = [encode_prepared(event) for event in events]
        return self._core.send(self._transport, items, self._abandon.wait, stamped=False)

    def close(self, timeout: float | None = None) -> bool:
        """Send what is queued (within ``timeout``, default ``shutdown_timeout``), then stop.

        Events still queued at the deadline go to ``on_drop`` with reason ``"shutdown"``.
        Returns whether everything was delivered. Later ``track()`` calls drop their event.
        """
        core = self._core
        if core.closed:
            return core.queue.pending == 0
        _lifecycle.unregister(self)
        deadline = core.begin_close(timeout)
        delivered = self.flush(max(0.0, deadline - time.monotonic()))
        left = core.drop_queued()
        self._stopping = True
        self._abandon.set()
        self._wake.set()
        sender = self._sender
        if sender is not None and sender is not threading.current_thread():
            sender.join(max(0.0, deadline - time.monotonic()) + 0.05)
        in_flight = core.queue.pending  # what the sender still holds, mid-request
        if in_flight:
            log.warning(
                "evana: %d event(s) were still being sent at the close deadline;"
                " they may not have arrived",
                in_flight,
            )
        elif core.options.transport is None:
            self._transport.close()
        self._notify()  # any track() blocked on a full queue gives up
        return delivered and not left and not in_flight

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- process lifecycle (see _lifecycle) ---------------------------------------------------

    def _shutdown_timeout(self) -> float:
        return self._core.options.shutdown_timeout

    def _exit_begin(self, deadline: float) -> None:
        self._core.deadline = deadline
        self._flushing += 1  # stays raised: the client is about to close
        self._wake.set()

    def _exit_finish(self, deadline: float) -> None:
        self.close(max(0.0, deadline - time.monotonic()))

    def _after_fork_in_child(self) -> None:
        self._core.after_fork()
        self._init_threading()
        if self._core.options.transport is None:
            # The parent's pooled sockets must not be shared; they are left for it to close.
            self._transport = self._make_transport()
