"""Which worker made an Invoke API request: the kernel's socket table tells, from the TCP peer.

A handler that synchronously invokes a function of the same service (the keep-warm fan-out) holds its
own worker while it waits; the pool must not make that nested call wait for a worker (see ``pool.py``).
The Invoke API sees the call's TCP peer (127.0.0.1, port); the client side of that connection is a
socket in ``/proc/net/tcp`` (local port = the peer's, remote port = the service's) whose inode one of
the worker's processes holds as an open descriptor (``/proc/<pid>/fd/* -> socket:[inode]``). Linux
only, like the rest of the local Lambda service; anything unreadable means "not a worker".
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Protocol, TypeVar

from localcloud.lambda_service.limits import tree_pids

SOCKET_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


class HasPid(Protocol):
    @property
    def pid(self) -> int | None: ...


W = TypeVar("W", bound=HasPid)


def client_socket_inode(client_port: int, server_port: int) -> int | None:
    """The inode of the client-side socket of the connection ``client_port`` -> ``server_port``."""
    for table in SOCKET_TABLES:
        try:
            with open(table, encoding="ascii") as lines:
                next(lines, None)  # the header
                for line in lines:
                    fields = line.split()
                    if len(fields) < 10:
                        continue
                    local_port = int(fields[1].rsplit(":", 1)[1], 16)
                    remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                    if local_port == client_port and remote_port == server_port:
                        return int(fields[9])
        except (OSError, ValueError, IndexError):
            continue
    return None


def holds_socket(pid: int, inode: int) -> bool:
    """Whether ``pid``'s process tree has the socket ``inode`` open."""
    target = f"socket:[{inode}]"
    for member in tree_pids(pid):
        try:
            descriptors = os.listdir(f"/proc/{member}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(f"/proc/{member}/fd/{descriptor}") == target:
                    return True
            except OSError:
                continue
    return False


def worker_behind(client_address: tuple[str, int], server_port: int, workers: Iterable[W]) -> W | None:
    """The worker among ``workers`` whose process tree opened the connection from ``client_address``."""
    inode = client_socket_inode(client_address[1], server_port)
    if inode is None:
        return None
    for worker in workers:
        if worker.pid is not None and holds_socket(worker.pid, inode):
            return worker
    return None
