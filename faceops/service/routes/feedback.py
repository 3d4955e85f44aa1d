"""Feedback on an answer: who a face from /predict is, or is not, kept for `faceops feedback`."""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at run time.
import json

from faceops.core.errors import FaceopsError
from faceops.people.forgotten import forgotten
from faceops.records.feedback import RecordStoreError, UnknownFaceError, verdict_of
from faceops.service.routes import Service
from faceops.service.transport import read_body


def router(service: Service):  # noqa: ANN201 - a FastAPI APIRouter
    """POST /feedback."""
    from fastapi import APIRouter, HTTPException, Request

    routes = APIRouter()
    raw = service.raw

    @routes.post("/feedback", status_code=201)
    async def feedback(request: Request) -> dict:
        """Say who a face from /predict is ("person") or is not ("not") (admin); kept for `faceops feedback`."""
        try:
            body = json.loads(await read_body(request, 4096, service.limits))
        except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python's stack
            body = None
        current = await service.holder.current()
        people = set(current.card.labels) - set(current.card.forgotten)
        people |= {path.name for path in raw.iterdir() if path.is_dir()} if raw.is_dir() else set()
        people -= forgotten(".", raw)
        try:
            face_id, verdict, person = verdict_of(body, people)
            await service.keeper.bounded(service.pending.move_to_feedback, face_id, verdict, person, service.feedback)
        except RecordStoreError as exc:  # written before removed: the face still waits; 507 full, 503 otherwise
            raise HTTPException(exc.status, str(exc)) from None
        except FaceopsError as exc:
            raise HTTPException(404 if isinstance(exc, UnknownFaceError) else 400, str(exc)) from None
        service.notifier.feedback(face_id, verdict, person)
        return {"id": face_id, "verdict": verdict, "person": person, "waiting": len(service.feedback.entries())}

    return routes
