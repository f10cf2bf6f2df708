"""Build the CSV readers' native fast path (``handlers/fhr/readers/csvparse.c``) into a shared library.

The library uses no libc at all (``-nostdlib``: it only does arithmetic on the caller's buffers), so it
has no glibc version requirement and loads on Lambda's Amazon Linux as on the build machine; it is
built for the machine it is built on, which must be the Lambda architecture (``x86_64``) for the bundle.
The same source and compiler give the same bytes (no build id, no compiler ident, symbols stripped),
so the bundle stays deterministic. Without a C compiler nothing is built and the readers use their
numpy path (slower, same results).

``python -m bundler.native`` builds it next to its source, for the dev venv and the tests
(``make venv`` runs it).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from bundler.errors import BundleError

SOURCE = Path(__file__).resolve().parent.parent / "handlers" / "fhr" / "readers" / "csvparse.c"
FLAGS = (
    "-O3", "-shared", "-fPIC", "-nostdlib", "-ffp-contract=off", "-fno-ident", "-fno-stack-protector",
    "-s", "-Wl,--build-id=none", "-Wall", "-Wextra", "-Werror",
)  # fmt: skip


class NativeBuildFailed(BundleError):
    """The C compiler refused the native parser's source."""


def library_name(machine: str | None = None) -> str:
    """``_csvparse.<machine>.so``: the loader only takes the one built for the machine it runs on."""
    return f"_csvparse.{machine or platform.machine()}.so"


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def build(dest_dir: Path, source: Path = SOURCE) -> Path | None:
    """Compile ``source`` into ``dest_dir/_csvparse.<machine>.so``; None when no compiler is installed."""
    cc = compiler()
    if cc is None:
        return None
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / library_name()
    tmp = target.with_name(target.name + ".tmp")
    proc = subprocess.run([cc, *FLAGS, "-o", str(tmp), str(source)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise NativeBuildFailed(f"{cc} could not build {source.name}:\n{proc.stderr.strip()[-2000:]}")
    tmp.replace(target)
    return target


def main() -> int:
    built = build(SOURCE.parent)
    if built is None:
        print("bundler.native: no C compiler (cc/gcc, or $CC): the CSV readers use their numpy path", file=sys.stderr)
        return 0
    print(f"built {built}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
