"""A moto server on loopback: S3, DynamoDB and SQS for the local cloud.

moto's in-process ``mock_aws()`` does not reach aiobotocore, and handlers run in worker processes
anyway, so the local cloud runs moto as a real HTTP server (``ThreadedMotoServer``) that every process
reaches through ``AWS_ENDPOINT_URL_*``. moto is imported only when the server starts.
"""

from __future__ import annotations

import logging
from typing import Any

ACCOUNT_ID = "123456789012"  # moto's default account: the ARNs and queue URLs it hands out

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


class MotoServer:
    """Start/stop one ``ThreadedMotoServer`` bound to ``host`` on ``port`` (0 = any free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: Any = None  # moto.server.ThreadedMotoServer, imported lazily

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> str:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        self.port = server._server.server_port  # type: ignore[union-attr]  # port 0: the OS picks
        self._server = server
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
