"""A small Chrome DevTools Protocol client: launch Chromium, open a page, evaluate, upload, screenshot.

Why our own: Playwright and Puppeteer download their own browser builds, which this workplace cannot
fetch; Debian's Chromium speaks CDP, and aiohttp already gives us the websocket.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    "--remote-debugging-port=0",
)


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or a CDP call failed."""


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    return next((c for c in CHROMIUM_CANDIDATES if Path(c).exists()), None) or shutil.which("chromium")


class Connection:
    """One websocket to the browser; commands are matched to replies by id, events go to waiters."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, str | None, asyncio.Future[dict[str, Any]]]] = []
        self._reader = asyncio.create_task(self._read())

    async def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        msg_id = next(self._ids)
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        await self.ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, 60)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def expect(self, event: str, session: str | None = None) -> asyncio.Future[dict[str, Any]]:
        """A future for the next ``event`` (create it before the command that triggers the event)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((event, session, future))
        return future

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
                continue
            for waiter in list(self._waiters):
                event, session, future = waiter
                if data.get("method") == event and (session is None or data.get("sessionId") == session):
                    self._waiters.remove(waiter)
                    if not future.done():
                        future.set_result(data.get("params", {}))

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self.ws.close()


class Page:
    """One tab, attached with a flat session."""

    def __init__(self, conn: Connection, session: str) -> None:
        self.conn = conn
        self.session = session
        self.console: list[str] = []

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self.conn.send(method, params, self.session)

    async def goto(self, url: str, timeout: float = 30) -> None:
        loaded = self.conn.expect("Page.loadEventFired", self.session)
        await self.call("Page.navigate", {"url": url})
        await asyncio.wait_for(loaded, timeout)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"page threw: {text}")
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = 30, interval: float = 0.1) -> Any:
        """Poll ``expression`` until it is truthy; return its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise BrowserError(f"timed out after {timeout} s waiting for: {expression}")
            await asyncio.sleep(interval)

    async def set_files(self, selector: str, paths: list[Path]) -> None:
        document = await self.call("DOM.getDocument", {"depth": 0})
        node = await self.call("DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector})
        if not node.get("nodeId"):
            raise BrowserError(f"no element matches {selector}")
        await self.call("DOM.setFileInputFiles", {"nodeId": node["nodeId"], "files": [str(p) for p in paths]})
        await self.evaluate(
            f"document.querySelector({json.dumps(selector)}).dispatchEvent(new Event('change', {{bubbles: true}}))"
        )

    async def click(self, selector: str) -> None:
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    async def screenshot(self, path: Path) -> Path:
        shot = await self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


class Chromium:
    """A headless Chromium process with a fresh profile, stopped (with its children) on exit."""

    def __init__(self, executable: str | None = None) -> None:
        self.executable = executable or find_chromium()
        self.process: subprocess.Popen[bytes] | None = None
        self.profile: str | None = None
        self.session: aiohttp.ClientSession | None = None
        self.conn: Connection | None = None

    async def __aenter__(self) -> Chromium:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, timeout: float = 30) -> None:
        if not self.executable:
            raise BrowserError("Chromium not found (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="fhr-chromium-")
        self.process = subprocess.Popen(
            [self.executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = asyncio.get_running_loop().time() + timeout
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.process.poll() is not None or asyncio.get_running_loop().time() > deadline:
                raise BrowserError("Chromium did not open its DevTools port")
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.session = aiohttp.ClientSession()
        ws = await self.session.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self.conn = Connection(ws)

    async def new_page(self) -> Page:
        assert self.conn is not None
        target = await self.conn.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.conn.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self.conn, attached["sessionId"])
        for domain in ("Page", "Runtime", "DOM"):
            await page.call(f"{domain}.enable")
        return page

    async def stop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.close()
        if self.session is not None:
            await self.session.close()
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)
