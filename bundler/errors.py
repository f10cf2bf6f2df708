"""Errors of the bundle build: one base class, one precise subclass per way a build can fail."""

from __future__ import annotations


class BundleError(Exception):
    """Base of every bundle build error; the message tells the operator what to do."""


class BundleTooLarge(BundleError):
    """Code plus layer exceed Lambda's unzipped deployment limit (250 MB)."""

    def __init__(self, unzipped_bytes: int, limit_bytes: int, largest: list[tuple[str, int]]) -> None:
        self.unzipped_bytes = unzipped_bytes
        self.limit_bytes = limit_bytes
        self.largest = largest
        top = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in largest[:5])
        super().__init__(
            f"bundle is {unzipped_bytes / 1e6:.1f} MB unzipped, over Lambda's limit of "
            f"{limit_bytes / 1e6:.1f} MB; largest packages: {top}"
        )


class DependencyInstallFailed(BundleError):
    """pip could not install the layer's requirements for the Lambda platform."""

    def __init__(self, requirements: str, returncode: int, output: str) -> None:
        self.returncode = returncode
        tail = "\n".join(output.strip().splitlines()[-15:])
        super().__init__(f"pip install of {requirements} for the Lambda platform failed (exit {returncode}):\n{tail}")


class SourceMissing(BundleError):
    """A path the bundle is built from does not exist."""


class ManifestMissing(BundleError):
    """No bundle manifest where the Pulumi program looks for one: the bundle was never built."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"no Lambda bundle manifest at {path}: run `make bundle` (or `fhr bundle`) first")


class ManifestInvalid(BundleError):
    """The manifest exists but is unreadable, incomplete or points at a zip that changed since."""
