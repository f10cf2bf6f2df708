"""The execution environment's file system and identity, as Lambda's sandbox has them.

On Lambda a function runs as an unprivileged user; its code (``/var/task``) and layers (``/opt``) are
read-only, so nothing can write next to its code (Python cannot even write ``__pycache__`` there), and
the only writable place is ``/tmp``, private to the environment and limited to the function's
ephemeral storage size (512 MB by default); the working directory is the task root.

Locally, every worker process is started through a short wrapper (no extra process stays behind: each
step ``exec``s the next):

1. ``unshare --mount --propagation private``: a private mount namespace for this worker;
2. ``mount -t tmpfs -o size=<ephemeral>m`` on the environment's own directory, which the worker gets
   as ``TMPDIR`` (and ``TEMP``/``TMP``): full means ``ENOSPC``, exactly like a full ``/tmp`` on Lambda,
   and the mount disappears with the namespace when the worker exits, whatever happens to the service;
3. ``setpriv``: drop to a uid of its own (one per environment, so environments cannot signal or read
   each other's ``TMPDIR``), no supplementary groups, ``no_new_privs``, keeping one capability,
   ``CAP_DAC_READ_SEARCH``, which lets it *read* everything the developer's root-owned checkout and
   Python hold (``/root/.pyenv`` is mode 700 on this machine) but grants no write anywhere. Writes
   to the code root, the virtualenv (our "layer") or Python's own prefix fail with ``EACCES``.

This needs root (the service runs as root on the build machine and in CI) and util-linux's
``unshare``/``setpriv``; ``Sandbox.probe`` checks once that the whole chain works. Without it the
worker runs as the service's user with a plain ``TMPDIR`` directory (no size limit), and the service
says so in its log: the fidelity table lists that as the gap it is.

Known difference: the literal path ``/tmp`` is still the machine's ``/tmp`` (a per-environment tmpfs
mounted over ``/tmp`` would hide the checkouts and test directories that live under it); code that
uses ``tempfile``/``TMPDIR`` gets the environment's own, sized directory.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger("localcloud.lambda_service.sandbox")

SandboxMode = Literal["auto", "on", "off"]
UID_RANGE = (200_000, 2_000_000_000)
"""Environments get uids from a random point in this range (no passwd entry is needed)."""

# $1 = TMPDIR, $2 = size in MB, $3 = uid; the rest is the runtime command.
_WRAPPER = (
    'd=$1 s=$2 u=$3; shift 3; mount -t tmpfs -o "size=${s}m,mode=0700,uid=$u,gid=$u,nosuid,nodev" '
    'sandbox-tmp "$d" || exit 126; exec setpriv --reuid "$u" --regid "$u" --clear-groups --no-new-privs '
    '--inh-caps=-all,+dac_read_search --ambient-caps=+dac_read_search -- "$@"'
)


class SandboxError(RuntimeError):
    """``sandbox="on"`` was asked for on a machine that cannot provide it."""


@dataclass(frozen=True)
class Environment:
    """One execution environment's identity and scratch space."""

    uid: int | None
    tmpdir: Path
    ephemeral_mb: int

    def wrap(self, command: list[str]) -> list[str]:
        """The command that starts ``command`` inside the sandbox (unchanged without one)."""
        if self.uid is None:
            return command
        prefix = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", _WRAPPER, "sandbox"]
        return [*prefix, str(self.tmpdir), str(self.ephemeral_mb), str(self.uid), *command]

    def environment(self) -> dict[str, str]:
        tmp = str(self.tmpdir)
        return {"TMPDIR": tmp, "TEMP": tmp, "TMP": tmp}


class Sandbox:
    """Hands out environments (a uid and a ``TMPDIR`` each) and removes their directories afterwards."""

    def __init__(self, enforced: bool, root: Path | None = None) -> None:
        self.enforced = enforced
        self.root = root or Path(tempfile.gettempdir()) / "localcloud-lambda" / f"{os.getpid()}-{secrets.token_hex(4)}"
        self._uids = itertools.count(secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0])

    @classmethod
    def create(cls, mode: SandboxMode = "auto") -> Sandbox:
        if mode == "off":
            return cls(False)
        works = probe()
        if mode == "on" and not works:
            raise SandboxError("the worker sandbox needs root and util-linux unshare/setpriv/mount (see sandbox.py)")
        if not works:
            log.warning("worker sandbox unavailable (not root?): code is writable and TMPDIR has no size limit")
        return cls(works)

    def environment(self, worker_id: str, ephemeral_mb: int) -> Environment:
        """A fresh environment: its own uid (when enforced) and an empty ``TMPDIR`` it owns."""
        uid = next(self._uids) if self.enforced else None
        tmpdir = self.root / worker_id
        tmpdir.mkdir(parents=True, mode=0o700)
        if uid is not None:
            os.chown(tmpdir, uid, uid)
        return Environment(uid, tmpdir, ephemeral_mb)

    def discard(self, environment: Environment) -> None:
        """Remove an environment's directory once its worker is gone (its tmpfs went with it)."""
        shutil.rmtree(environment.tmpdir, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.root.parent.rmdir()  # only when no other service still uses it


@functools.cache
def probe() -> bool:
    """True when the wrapper works here: a sandboxed process runs, as another uid, and cannot write."""
    if os.name != "posix" or os.geteuid() != 0:
        return False
    if not all(shutil.which(tool) for tool in ("unshare", "setpriv", "mount")):
        return False
    with tempfile.TemporaryDirectory(prefix="localcloud-sandbox-probe-") as scratch:
        env = Environment(UID_RANGE[0] - 1, Path(scratch) / "tmp", 1)
        env.tmpdir.mkdir()
        os.chown(env.tmpdir, UID_RANGE[0] - 1, UID_RANGE[0] - 1)
        check = f'test "$(id -u)" = {env.uid} && ! touch {scratch}/written 2>/dev/null && touch "$TMPDIR/ok"'
        try:
            done = subprocess.run(
                env.wrap(["/bin/sh", "-c", check]),
                env={**_plain_env(), **env.environment()},
                capture_output=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0 and not (Path(scratch) / "written").exists()


def _plain_env() -> Mapping[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
