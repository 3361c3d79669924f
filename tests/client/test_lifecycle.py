"""Process exit and fork, in real subprocesses sending to a recording sink in this process."""

from __future__ import annotations

import collections
import textwrap
import time

import pytest

from tests._services import free_port

from .conftest import Sink, run_script

QUIET = "import logging; logging.disable(logging.CRITICAL)\n"


def script(body: str, url: str, **options: object) -> str:
    settings = {"flush_at": 1000, "flush_interval": 60, **options}
    args = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    return textwrap.dedent(f"""\
        import asyncio, os, sys, threading, evana
        URL = {url!r}
        def make():
            return evana.Client(URL, "key", {args})
        def make_async():
            return evana.AsyncClient(URL, "key", {args})
        """) + textwrap.dedent(body)


def assert_each_once(sink: Sink, expected: dict[str, int]) -> None:
    events = sink.wait_for(sum(expected.values()))
    time.sleep(0.1)
    events = sink.events()
    assert collections.Counter(e["event"] for e in events) == expected
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids)), "an event was sent twice"


def test_events_queued_at_exit_are_sent_without_flush_or_close(sink: Sink) -> None:
    code = script(
        """
        client = make()
        for n in range(2500):
            client.track("exit", f"u_{n}")
        # no flush(), no close(): the process just ends
        """,
        sink.url,
        max_queue_size=5000,
    )
    out = run_script(code)
    assert out.returncode == 0, out.stderr
    assert_each_once(sink, {"exit": 2500})


def test_exit_is_bounded_when_the_server_is_down() -> None:
    code = script(
        """
        client = make()
        for n in range(10):
            client.track("lost", f"u_{n}")
        """,
        f"http://127.0.0.1:{free_port()}",
        shutdown_timeout=1.0,
    )
    started = time.monotonic()
    out = run_script(code)
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < 8  # 1 s of trying, plus interpreter start and stop
    assert "10 event(s) not delivered" in out.stderr  # never silent


def test_a_forked_child_has_its_own_queue_and_never_resends_the_parents_events(
    sink: Sink,
) -> None:
    code = script(
        """
        client = make()
        for n in range(5):
            client.track("parent-before-fork", f"p_{n}")
        pid = os.fork()
        if pid == 0:
            for n in range(3):
                client.track("child", f"c_{n}")
            assert client.metrics.queued == 3, client.metrics
            sys.exit(0)  # a normal exit: the child's exit hook sends its own events
        for n in range(2):
            client.track("parent-after-fork", f"p_{n}")
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
        assert client.flush(10)
        """,
        sink.url,
    )
    out = run_script(code)
    assert out.returncode == 0, out.stderr
    assert_each_once(sink, {"parent-before-fork": 5, "parent-after-fork": 2, "child": 3})


def test_a_forked_child_can_flush_explicitly_and_exit_hard(sink: Sink) -> None:
    code = script(
        """
        client = make()
        client.track("parent", "p")
        assert client.flush(10)
        if os.fork() == 0:
            client.track("child", "c")
            ok = client.flush(10)
            os._exit(0 if ok else 3)
        _, status = os.wait()
        assert status == 0, status
        """,
        sink.url,
    )
    out = run_script(code)
    assert out.returncode == 0, out.stderr
    assert_each_once(sink, {"parent": 1, "child": 1})


def test_an_async_client_in_a_forked_child_starts_over(sink: Sink) -> None:
    code = script(
        """
        client = make_async()

        async def track(name, count):
            for n in range(count):
                await client.track(name, f"u_{n}")

        asyncio.run(track("parent", 4))  # queued; the loop is gone, the events wait for exit
        pid = os.fork()
        if pid == 0:
            asyncio.run(track("child", 2))
            assert client.metrics.queued == 2, client.metrics
            sys.exit(0)
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
        """,
        sink.url,
    )
    out = run_script(QUIET + code)
    assert out.returncode == 0, out.stderr
    assert_each_once(sink, {"parent": 4, "child": 2})


def test_multiprocessing_fork_workers_send_their_events_at_exit(sink: Sink) -> None:
    code = script(
        """
        import multiprocessing
        client = make()

        def work(worker):
            for n in range(4):
                client.track("worker", f"w{worker}_{n}")
            # returns without flush; multiprocessing ends the worker with os._exit()

        if __name__ == "__main__":
            context = multiprocessing.get_context("fork")
            workers = [context.Process(target=work, args=(w,)) for w in range(2)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
                assert w.exitcode == 0, w.exitcode
        """,
        sink.url,
    )
    out = run_script(code)
    assert out.returncode == 0, out.stderr
    assert_each_once(sink, {"worker": 8})


def test_async_events_are_sent_at_exit_after_asyncio_run_returned(sink: Sink) -> None:
    code = script(
        """
        async def main():
            client = make_async()  # never closed, and no reference to it survives main()
            for n in range(300):
                await client.track("async-exit", f"u_{n}")

        asyncio.run(main())
        """,
        sink.url,
    )
    out = run_script(QUIET + code)
    assert out.returncode == 0, out.stderr
    assert_each_once(sink, {"async-exit": 300})


def test_async_events_are_sent_at_exit_by_a_loop_still_running_elsewhere(sink: Sink) -> None:
    code = script(
        """
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        client = make_async()

        async def work():
            for n in range(40):
                await client.track("loop-thread", f"u_{n}")

        asyncio.run_coroutine_threadsafe(work(), loop).result(10)
        """,
        sink.url,
    )
    out = run_script(code)
    assert out.returncode == 0, out.stderr
    assert_each_once(sink, {"loop-thread": 40})


@pytest.mark.parametrize("kind", ["make", "make_async"])
def test_a_closed_client_leaves_nothing_for_the_exit_hook(sink: Sink, kind: str) -> None:
    code = script(
        f"""
        import evana.client._lifecycle as lifecycle
        client = {kind}()
        close = client.close()
        if asyncio.iscoroutine(close):
            asyncio.run(close)
        assert not lifecycle._clients, lifecycle._clients
        """,
        sink.url,
    )
    out = run_script(code)
    assert out.returncode == 0, out.stderr
