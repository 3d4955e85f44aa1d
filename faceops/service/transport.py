"""The service's guard at the HTTP level: how much and how fast a client may send, and how an upload is read.

Uploads are read into memory no further than their cap (never spooled to disk), a stalled or endless body is
cut off, a connection that sends its headers too slowly is closed, and a GET route answers HEAD too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the serve extra's packages, imported where they are used
    from fastapi.exceptions import RequestValidationError
    from starlette.requests import Request
    from starlette.responses import JSONResponse

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the photo
STATUS_FOR = {"refused": 400, "empty": 400, "corrupt": 400, "unreadable": 400, "not_image": 415, "too_large": 413}


@dataclass(frozen=True)
class Limits:
    """What one client may hold: the upload size, how long its headers and body may take, and how many
    connections the service keeps open at once (beyond that, requests get 503)."""

    max_upload_bytes: int = MAX_UPLOAD_BYTES
    header_timeout: float = 10.0  # seconds from a connection's first byte (or its last answer) to its full headers
    body_timeout: float = 15.0  # seconds a request body may stall between two chunks
    body_deadline: float = 120.0  # seconds for a whole request body
    max_connections: int = 100


class HeadAsGet:
    """HTTP says a GET route answers HEAD too (same status and headers, no body); FastAPI routes only GET.

    The request goes on as GET; uvicorn sends no body for a HEAD request on its own.
    """

    def __init__(self, app) -> None:  # noqa: ANN001 - an ASGI app
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)


async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A request FastAPI cannot take apart is 400 with what to send, not FastAPI's 422 with its internals."""
    from fastapi.responses import JSONResponse

    return JSONResponse({"detail": "send the photo as multipart form field 'file'"}, status_code=400)


async def read_upload(request: Request, limits: Limits) -> tuple[bytes, str]:
    """The photo's bytes and name from a multipart form or a raw body, never reading past the cap.

    The body is read into memory up to the cap (plus room for multipart headers) and only then
    parsed, so an oversized upload is refused with 413 before it has all arrived, and nothing of it
    is spooled to disk.
    """
    from fastapi import HTTPException
    from starlette.requests import Request

    limit = limits.max_upload_bytes
    too_large = HTTPException(413, f"upload is larger than {limit // (1024 * 1024)} MiB")
    content_type = request.headers.get("content-type", "")
    multipart = content_type.startswith("multipart/form-data")
    cap = limit + (MULTIPART_OVERHEAD if multipart else 0)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise too_large
    body = await read_body(request, cap, limits)
    if len(body) > cap:
        raise too_large
    if not multipart:
        if len(body) > limit:
            raise too_large
        return body, "body"

    async def replay() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=1, max_fields=5, max_part_size=limit + 1)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPException(400, "send the photo as multipart form field 'file'")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise too_large
    return data, upload.filename or "upload"


async def read_body(request: Request, cap: int, limits: Limits) -> bytes:
    """The raw body, read no further than one byte past `cap` (so a huge upload is not held in memory);
    408 when it stalls for `body_timeout` seconds or takes longer than `body_deadline` in all."""
    from fastapi import HTTPException

    chunks, size = [], 0
    deadline = time.monotonic() + limits.body_deadline
    stream = request.stream()
    while size <= cap:
        wait = min(limits.body_timeout, deadline - time.monotonic())
        try:
            chunk = await asyncio.wait_for(anext(stream), timeout=max(wait, 0.001))
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            raise HTTPException(408, f"the upload was too slow (no more than {wait:.0f} s allowed)") from None
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def guarded_protocol(header_timeout: float) -> type:
    """uvicorn's h11 protocol, closing a connection whose request headers take longer than `header_timeout`
    seconds (uvicorn has no such limit: a client sending a header byte a second would hold a connection
    forever). The clock starts at the connection and again after each answer."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _header_timer = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                log.warning("closed a connection whose request headers took over %.0f s", header_timeout)
                self.transport.close()

        def connection_made(self, transport) -> None:  # noqa: ANN001 - asyncio transport
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol
