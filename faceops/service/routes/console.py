"""The admin console: GET /admin (one page) and the JSON it reads, /admin/* (faceops.service.console).

The page holds no data (a browser cannot send a key to open it): it asks for an admin key, as the main page does,
and every /admin/* route needs one when keys are on. Accept and reject go to the existing POST /feedback.
"""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at run time.
from faceops.core.errors import FaceopsError
from faceops.core.pages import render_page
from faceops.records.feedback import RecordStoreError
from faceops.service import console
from faceops.service.routes import Service


def router(service: Service):  # noqa: ANN201 - a FastAPI APIRouter
    """GET /admin and GET /admin/people, /admin/queue, /admin/faces/ID, /admin/recent, /admin/models, /admin/drift,
    /admin/unknowns."""
    from fastapi import APIRouter, HTTPException
    from fastapi.responses import HTMLResponse, Response
    from starlette.concurrency import run_in_threadpool

    routes = APIRouter()
    wait = round(service.pending.limits.ttl_seconds / 60)
    page = render_page("admin.html.j2", wait_minutes=wait, recent=console.RECENT)

    async def from_store(read, *args):  # noqa: ANN001, ANN002, ANN202 - a console function and its arguments
        """`read(records, *args, live card, raw folder)` on the record keeper's threads, bounded in time."""
        current = await service.holder.current()
        try:
            return await service.keeper.bounded(read, service.records, *args, current.card, service.raw)
        except RecordStoreError as exc:
            raise HTTPException(exc.status, str(exc)) from None
        except OSError as exc:  # a store that fails as it is read: full, gone, refused
            raise HTTPException(503, f"the record store {service.records.where} failed: {exc}") from None
        except FaceopsError as exc:  # a data set it cannot list (a link, a loose file): said as it is
            raise HTTPException(500, str(exc)) from None

    @routes.get("/admin", response_class=HTMLResponse)
    async def admin() -> str:
        return page

    @routes.get("/admin/people")
    async def people() -> dict:
        return {"people": await from_store(console.people)}

    @routes.get("/admin/queue")
    async def queue() -> dict:
        return {"faces": await from_store(console.queue)}

    @routes.get("/admin/faces/{face_id}")
    async def face(face_id: str) -> Response:
        jpeg = await from_store(console.thumbnail, face_id)
        if jpeg is None:
            raise HTTPException(404, f"face {face_id} does not wait (expired, or given feedback)")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @routes.get("/admin/recent")
    async def recent() -> dict:
        return {"recognitions": await from_store(console.recent)}

    @routes.get("/admin/drift")
    async def drift() -> dict:
        return await from_store(console.drift)

    @routes.get("/admin/unknowns")
    async def unknowns() -> dict:
        return await from_store(console.unknown_groups)

    @routes.get("/admin/models")
    async def models() -> dict:
        current = await service.holder.current()
        found = await run_in_threadpool(console.versions, ".")  # `gto show` and git: a subprocess, off the loop
        return {**found, "serving": current.version}

    return routes
