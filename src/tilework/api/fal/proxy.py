"""The JavaScript client's proxy convention: every request goes to one URL (``/fal/proxy``)
with the URL it meant in ``x-fal-target-url``; it is answered as if it had gone there.

Only fal's own hosts are understood, each mapped onto tilework's routes (the queue onto
``/fal``, fal.run onto ``/fal/run``, the storage upload onto ``/fal/storage``), and this
server's own URLs pass as they are. Nothing is ever fetched: the proxy is a path rewrite.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from tilework.api.fal.errors import fal_error
from tilework.api.fal.views import PREFIX
from tilework.core.errors import ErrorCode, TileworkError

PROXY_PATH = f"{PREFIX}/proxy"
TARGET_HEADER = b"x-fal-target-url"
# fal's hosts, and where their paths live here.
HOSTS = {
    "queue.fal.run": PREFIX,
    "fal.run": f"{PREFIX}/run",
    "rest.fal.ai": PREFIX,
    "rest.alpha.fal.ai": PREFIX,
}
REST_PATHS = ("/storage/upload/initiate",)  # what of fal's REST API is served


class FalProxy:
    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        self.public = urlsplit(public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != PROXY_PATH:
            await self.app(scope, receive, send)
            return
        target = dict(scope["headers"]).get(TARGET_HEADER)
        try:
            path, query = self.route(target.decode("latin-1") if target else None)
        except TileworkError as error:
            await fal_error(error)(scope, receive, send)
            return
        routed = {**scope, "path": path, "raw_path": path.encode(), "query_string": query}
        await self.app(routed, receive, send)

    def route(self, target: str | None) -> tuple[str, bytes]:
        """The path and query here that ``target`` (a URL of fal's or of this server) names."""
        if not target:
            raise _refused("send the URL to call in the x-fal-target-url header")
        parts = urlsplit(target)
        host = (parts.hostname or "").lower()
        query = parts.query.encode()
        if parts.netloc.lower() == self.public.netloc.lower() and parts.path.startswith(
            self.public.path
        ):
            return parts.path[len(self.public.path.rstrip("/")) :] or "/", query
        prefix = HOSTS.get(host)
        if prefix is None:
            raise _refused(
                f"x-fal-target-url names {host or target!r}; this proxy serves fal's hosts "
                f"({', '.join(HOSTS)}) and this server's URLs"
            )
        if host.startswith("rest.") and parts.path not in REST_PATHS:
            raise TileworkError(
                ErrorCode.NOT_FOUND,
                f"{parts.path} of fal's REST API is not served here; "
                f"only {', '.join(REST_PATHS)} is",
                {"x-fal-target-url": target},
            )
        return prefix + (parts.path or "/"), query


def _refused(message: str) -> TileworkError:
    return TileworkError(
        ErrorCode.VALIDATION_FAILED,
        message,
        {"errors": [{"field": "headers.x-fal-target-url", "message": message}]},
    )
