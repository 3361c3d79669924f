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
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactingFormatter", "install_redaction", "redact"]

#: ``evana_`` + 12 hex characters of key id + ``_`` + the secret (URL-safe base64); the secret
#: is matched loosely (any length) so a truncated or wrapped key is masked too.
_KEY = re.compile(r"(evana_[0-9a-f]{12}_)[A-Za-z0-9_\-]+")
_MASK = r"\1[redacted]"
#: ``scheme://user:password@``: the password, up to the last ``@`` before the host.
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)[^\s/]*@")
#: ``nats://TOKEN@``: for NATS a user part without a password is a token, a secret whole.
_NATS_TOKEN = re.compile(r"((?:nats|tls|ws|wss)://)[^\s:/@]+@")


def redact(text: str) -> str:
    """``text`` with the secret part of every evana API key and every URL password masked.

    >>> redact("GET /v1/stats/dau?api_key=evana_3f9c2a1b7d4e_s3cr3t-T0ken HTTP/1.1")
    'GET /v1/stats/dau?api_key=evana_3f9c2a1b7d4e_[redacted] HTTP/1.1'
    >>> redact("database_url='postgresql+psycopg://evana:p@ss@db:5432/evana'")
    "database_url='postgresql+psycopg://evana:[redacted]@db:5432/evana'"
    >>> redact("url=nats://s3cr3t@nats:4222")
    'url=nats://[redacted]@nats:4222'
    """
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
        """The inner formatter's line, keys masked."""
        return redact(self.inner.format(record))


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
