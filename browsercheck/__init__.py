"""Drive Debian's headless Chromium over the Chrome DevTools Protocol, for end-to-end checks of the
web page (tests and the page-timing benchmark). No browser download, no Node: aiohttp's websocket."""
