"""Log lines for operators and log pipelines: logfmt, one line per record, UTC timestamps."""

from __future__ import annotations

import datetime as dt
import logging
import sys

from ._redact import RedactingFormatter

__all__ = ["TRACE", "LogfmtFormatter", "configure_logging", "quote"]

TRACE = 5
"""uvicorn's ``--log-level trace``: every request's scope and messages."""


class LogfmtFormatter(logging.Formatter):
    """``ts=… level=… logger=… <message>``; evana's messages are ``msg=<what> key=value …``.

    >>> record = logging.makeLogRecord({"name": "evana.worker", "levelname": "INFO",
    ...     "msg": "msg=batch_written events=%d", "args": (3,), "created": 0})
    >>> LogfmtFormatter().format(record)
    'ts=1970-01-01T00:00:00.000Z level=info logger=evana.worker msg=batch_written events=3'
    """

    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC)
        message = record.getMessage()
        if not message.startswith("msg="):  # a library's plain sentence: quote it whole
            message = "msg=" + quote(message)
        line = (
            f"ts={stamp:%Y-%m-%dT%H:%M:%S}.{stamp.microsecond // 1000:03d}Z"
            f" level={record.levelname.lower()} logger={record.name} {message}"
        )
        if record.exc_info:
            line += " exc=" + quote(self.formatException(record.exc_info))
        return line


def quote(value: object) -> str:
    """A logfmt value: ``value`` as text (an exception's class when it has no message), quoted.

    >>> quote('no "such" table'), quote(TimeoutError())
    ('"no \\\\"such\\\\" table"', '"TimeoutError"')
    """
    text = str(value) or type(value).__name__
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def configure_logging(level: str = "info") -> None:
    """Send every log record of the process to stderr as logfmt lines, secrets masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(LogfmtFormatter()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # uvicorn's ``trace`` sits below DEBUG; recent uvicorn names the level only once its own
    # logging is set up, which is after this runs.
    logging.addLevelName(TRACE, "TRACE")
    root.setLevel(TRACE if level.lower() == "trace" else level.upper())
    # nats-py reports each reconnect attempt as an error; evana logs the outage itself.
    logging.getLogger("nats").setLevel(logging.CRITICAL)
