"""Keep secrets out of log output: every handler's text has API keys and URL passwords masked.

evana itself never logs a key, and uvicorn's access log holds no headers. But a key still ends
up in log text by other roads: a client that puts it in the query string (the access log prints
the whole path), ``--log-level trace`` (uvicorn then prints every request's headers), or an
exception message quoting a header. Log pipelines keep text for months and show it to more
people than the key's owner, so the API masks keys at the last step, in the formatter of every
handler, whatever the logger or the level.

A masked key keeps its public id (``evana_3f9c2a1b7d4e_[redacted]``): enough to know which key
was used and to revoke it, and useless to authenticate. Passwords in URLs
(``postgresql+psycopg://evana:[redacted]@db/evana``) are masked by the same pass: a repr of the
settings, printed by uvicorn's trace level, carries the database URL.

User ids of the data-rights routes are masked the same way. ``DELETE /v1/users/<id>`` and
``GET /v1/users/<id>/events`` carry the id in the *path*, which uvicorn's access log prints on
every request and its trace level prints (decoded) in each request's scope: the log would
keep, for months, the very id an erasure was asked to forget. Every ``/v1/users/…`` path in a
log line becomes ``/v1/users/[redacted]`` (``/events`` kept, so an export and an erasure stay
apart). The record's arguments are masked before formatting too, so a formatter that reads
them itself (a JSON log formatter) never sees the id, and a decoded id holding spaces or
quotes is masked whole.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["RedactingFormatter", "install_redaction", "redact", "redact_user_path"]

#: ``evana_`` + 12 hex characters of key id + ``_`` + the secret (URL-safe base64); the secret
#: is matched loosely (any length) so a truncated or wrapped key is masked too.
_KEY = re.compile(r"(evana_[0-9a-f]{12}_)[A-Za-z0-9_\-]+")
_MASK = r"\1[redacted]"
#: ``scheme://user:password@``: the password, up to the last ``@`` before the host.
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)[^\s/]*@")
#: ``nats://TOKEN@``: for NATS a user part without a password is a token, a secret whole.
_NATS_TOKEN = re.compile(r"((?:nats|tls|ws|wss)://)[^\s:/@]+@")
#: The data-rights routes' prefix: whatever follows it in a path is a user id.
USERS_PREFIX = "/v1/users/"
#: Prefixes of every path whose rest is a distinct id (a person's page too).
ID_PREFIXES = (USERS_PREFIX, "/v1/persons/")
#: A prefix and the rest of the path as log text shows it (percent-encoded, so up to a
#: space, a quote or the query string).
_USER_PATH = re.compile(r"/v1/(?:users|persons)/[^\s\"'?]+")
_MASKED_ID = "[redacted]"


def redact_user_path(path: str) -> str:
    """``path`` with the user id of a ``/v1/users/<id>`` path masked; other paths unchanged.

    The id may hold "/" once decoded, so everything after the prefix is masked; a trailing
    ``/events`` (the export route) is kept.

    >>> redact_user_path("/v1/users/u_42/events"), redact_user_path("/v1/users/a/b c")
    ('/v1/users/[redacted]/events', '/v1/users/[redacted]')
    >>> redact_user_path("/v1/stats/dau"), redact_user_path("/v1/persons/anon-1")
    ('/v1/stats/dau', '/v1/persons/[redacted]')
    """
    for prefix in ID_PREFIXES:
        start = path.find(prefix)
        if start < 0:
            continue
        rest = path[start + len(prefix) :]
        if not rest:
            return path
        tail = "/events" if rest.endswith("/events") and rest != "/events" else ""
        return path[: start + len(prefix)] + _MASKED_ID + tail
    return path


def _has_id_path(text: str) -> bool:
    return any(prefix in text for prefix in ID_PREFIXES)


def redact(text: str) -> str:
    """``text`` with the secret part of every evana API key and every URL password masked.

    >>> redact("GET /v1/stats/dau?api_key=evana_3f9c2a1b7d4e_s3cr3t-T0ken HTTP/1.1")
    'GET /v1/stats/dau?api_key=evana_3f9c2a1b7d4e_[redacted] HTTP/1.1'
    >>> redact("database_url='postgresql+psycopg://evana:p@ss@db:5432/evana'")
    "database_url='postgresql+psycopg://evana:[redacted]@db:5432/evana'"
    >>> redact("url=nats://s3cr3t@nats:4222")
    'url=nats://[redacted]@nats:4222'
    >>> redact('127.0.0.1:5 - "DELETE /v1/users/alice%40example.com HTTP/1.1" 200')
    '127.0.0.1:5 - "DELETE /v1/users/[redacted] HTTP/1.1" 200'
    """
    if _has_id_path(text):
        text = _USER_PATH.sub(lambda m: redact_user_path(m.group()), text)
    if "evana_" in text:
        text = _KEY.sub(_MASK, text)
    if "://" in text:
        text = _NATS_TOKEN.sub(r"\1[redacted]@", _URL_PASSWORD.sub(r"\1[redacted]@", text))
    return text


class RedactingFormatter(logging.Formatter):
    """Formats with the handler's own formatter, then masks keys in the finished text.

    Wrapping the finished text (rather than filtering records) also covers the parts a filter
    cannot reach: tracebacks, and formatters such as uvicorn's access log that read the
    record's arguments themselves.

    >>> record = logging.makeLogRecord({"msg": "key %s", "args": ("evana_0123456789ab_xyz",)})
    >>> RedactingFormatter(logging.Formatter("%(message)s")).format(record)
    'key evana_0123456789ab_[redacted]'
    """

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner if inner is not None else logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        """The inner formatter's line, keys and user ids masked."""
        return redact(self.inner.format(_scrub_args(record)))


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact_user_path(value) if _has_id_path(value) else value
    if isinstance(value, bytes) and _has_id_path(value.decode("latin-1")):
        return redact_user_path(value.decode("latin-1")).encode("latin-1")
    if isinstance(value, Mapping):  # uvicorn's trace level logs each request's scope
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(_scrub(item) for item in value)
    return value


def _scrub_args(record: logging.LogRecord) -> logging.LogRecord:
    """``record``, or a copy whose arguments hold no user id of a ``/v1/users/…`` path."""
    if not record.args or USERS_PREFIX not in repr(record.args):
        return record
    copy = logging.makeLogRecord(record.__dict__)
    copy.args = _scrub(record.args)
    return copy


def _wrap(handler: logging.Handler) -> None:
    if not isinstance(handler.formatter, RedactingFormatter):
        handler.setFormatter(RedactingFormatter(handler.formatter))


def install_redaction() -> None:
    """Mask keys in the output of every logging handler configured so far (idempotent).

    The API calls it when it starts, after uvicorn (or the host application) has set logging
    up, so it covers ``evana serve``, ``uvicorn --factory evana.server:create_app`` and an app
    mounted elsewhere alike.

    >>> install_redaction()
    """
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in list(logger.handlers):
            _wrap(handler)
    if logging.lastResort is not None:  # what prints when a logger has no handler at all
        _wrap(logging.lastResort)
