"""The evana server: FastAPI app, storage, queue and worker (``pip install 'evana[server]'``)."""

from evana._settings import Settings

from ._app import create_app, prepare
from ._worker import Worker

__all__ = ["Settings", "Worker", "create_app", "prepare"]
