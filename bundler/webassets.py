"""Vendoring the web page's charting library (uPlot) from the npm registry, at build time only.

The page is served by the stack itself and must work with no network beyond its own API, so uPlot
is copied into ``handlers/web/static/vendor/`` (git-ignored: we do not commit code we did not write)
by ``fhr vendor-web``, by the bundle build and by the local cloud when missing. The tarball is
fetched with ``npm pack`` and checked against the registry's pinned sha512 integrity before use.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "uplot"
VERSION = "1.6.32"
INTEGRITY = "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="
FILES = {
    "package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
    "package/dist/uPlot.min.css": "uPlot.min.css",
    "package/LICENSE": "uPlot.LICENSE",
}
VENDOR_DIR = Path(__file__).resolve().parent.parent / "handlers" / "web" / "static" / "vendor"


class VendorError(RuntimeError):
    """npm is missing, the registry did not answer, or the tarball failed its integrity check."""


def is_vendored(dest: Path = VENDOR_DIR) -> bool:
    """True when every file of the pinned version is present."""
    stamp = dest / "VERSION"
    if not stamp.is_file() or stamp.read_text().strip() != VERSION:
        return False
    return all((dest / name).is_file() for name in FILES.values())


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def vendor_web_assets(dest: Path = VENDOR_DIR, force: bool = False) -> Path:
    """Ensure uPlot's files are in ``dest``; fetch them with ``npm pack`` if absent. Returns ``dest``."""
    if is_vendored(dest) and not force:
        return dest
    npm = shutil.which("npm")
    if npm is None:
        raise VendorError("npm is needed once to vendor uPlot for the web page (apt-get install npm)")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", tmp, "--silent"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            raise VendorError(f"npm pack {PACKAGE}@{VERSION} failed: {proc.stderr.strip()[-500:]}")
        data = tarballs[0].read_bytes()
        if integrity_of(data) != INTEGRITY:
            raise VendorError(f"{PACKAGE}@{VERSION} tarball does not match its pinned integrity")
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarballs[0]) as archive:
            for member, name in FILES.items():
                extracted = archive.extractfile(member)
                if extracted is None:
                    raise VendorError(f"{member} missing from the {PACKAGE} tarball")
                (dest / name).write_bytes(extracted.read())
    (dest / "VERSION").write_text(VERSION + "\n")
    return dest
