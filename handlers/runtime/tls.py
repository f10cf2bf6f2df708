"""Import aiohttp without its two import-time loads of the system CA bundle.

aiohttp (3.10+) builds two default ``SSLContext`` objects when ``aiohttp.connector`` is imported, each
parsing the whole system CA bundle (~140 certificates): 2 x 20-50 ms of every cold start that
imports the AWS SDK (``benchmarks/bench_coldstart.py``, idea ``eager-aiohttp-ca``). They serve only
requests that bring no TLS context of their own; the SDK's clients always bring one (aiobotocore gives
each connector a context with botocore's CA bundle), and the runtime speaks plain HTTP to the Runtime
API, so in our functions they are normally never used.

:func:`import_aiohttp` imports aiohttp while ``SSLContext.load_default_certs`` and
``SSLContext.set_default_verify_paths`` only note what they were asked; every context made that way
then becomes a :class:`DeferredCAContext`, which does the noted loading before its first wrapped
connection. All other settings are made by aiohttp and ``ssl`` as usual: nothing is verified less,
only the moment the CA bundle is read moves. ``ssl`` is restored before the function returns (no other
thread runs during a cold start's imports).
"""

from __future__ import annotations

import ssl
import sys
import threading
from typing import Any

_LOCK = threading.Lock()
_PENDING = "_fhr_pending_ca"  # instance attribute: ("certs", purpose) or ("paths", None)


class DeferredCAContext(ssl.SSLContext):
    """An ``SSLContext`` that does its noted CA loading before its first wrapped connection."""

    def load_pending(self) -> None:
        """Load the deferred CA certificates (once, thread-safe)."""
        if _PENDING not in self.__dict__:
            return
        with _LOCK:
            pending = self.__dict__.pop(_PENDING, None)
            if pending is None:
                return
            kind, purpose = pending
            if kind == "certs":
                self.load_default_certs(purpose)
            else:
                self.set_default_verify_paths()

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:  # type: ignore[override]
        self.load_pending()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:  # type: ignore[override]
        self.load_pending()
        return super().wrap_bio(*args, **kwargs)


def import_aiohttp() -> None:
    """Import ``aiohttp`` with its default contexts' CA loading deferred (see the module docstring).

    Does nothing when aiohttp is already imported; call it before the first import of anything that
    imports aiohttp (aiobotocore).
    """
    if "aiohttp.connector" in sys.modules:
        return
    made: list[ssl.SSLContext] = []

    def note_certs(self: ssl.SSLContext, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
        self.__dict__[_PENDING] = ("certs", purpose)
        made.append(self)

    def note_paths(self: ssl.SSLContext) -> None:
        self.__dict__[_PENDING] = ("paths", None)
        made.append(self)

    saved = {name: ssl.SSLContext.__dict__.get(name) for name in ("load_default_certs", "set_default_verify_paths")}
    ssl.SSLContext.load_default_certs = note_certs  # type: ignore[method-assign]
    ssl.SSLContext.set_default_verify_paths = note_paths  # type: ignore[method-assign]
    try:
        import aiohttp.connector  # noqa: F401
    finally:
        for name, value in saved.items():
            if value is None:
                delattr(ssl.SSLContext, name)  # the C implementation shows through again
            else:
                setattr(ssl.SSLContext, name, value)
        for context in made:
            if type(context) is ssl.SSLContext:
                context.__class__ = DeferredCAContext
