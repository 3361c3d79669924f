"""Foreign wire formats (PostHog capture, Segment tracking) read into evana events.

One module per format turns a request body into :class:`Message` s — evana events still to
validate, each with the sender's clock — and the key it names; the ingest service does the rest
exactly as for ``POST /v1/events``.
"""

from . import posthog, segment
from ._accept import Accepted, accept
from ._decode import GZIP_MAGIC, bad_body, gunzip, json_body
from ._message import WIRE_ID_NAMESPACE, Decoded, Dropped, Message, key_from_headers

__all__ = [
    "GZIP_MAGIC",
    "WIRE_ID_NAMESPACE",
    "Accepted",
    "Decoded",
    "Dropped",
    "Message",
    "accept",
    "bad_body",
    "gunzip",
    "json_body",
    "key_from_headers",
    "posthog",
    "segment",
]
