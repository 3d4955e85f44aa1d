"""Enrolment: photos of a person added to the data set through the service, for the next retrain."""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at run time.
from faceops.core.errors import FaceopsError
from faceops.core.lock import ProjectBusyError, project_lock
from faceops.core.names import person_name, refuse_second_spelling
from faceops.data.images import is_image_name
from faceops.people.forgotten import refuse_forgotten
from faceops.service.routes import Service
from faceops.service.transport import STATUS_FOR, read_upload


def router(service: Service):  # noqa: ANN201 - a FastAPI APIRouter
    """POST /people/{person}/photos."""
    from fastapi import APIRouter, HTTPException, Request

    routes = APIRouter()
    raw = service.raw

    @routes.post("/people/{person}/photos", status_code=201)
    async def enrol(person: str, request: Request, re_enrol: bool = False) -> dict:
        """Add a photo of `person` to dataset/raw (admin): the next `dvc add dataset/raw` and retrain include it."""
        current = await service.holder.current()
        try:
            person = person_name(person, "person")
            folders = [p.name for p in raw.iterdir() if p.is_dir()] if raw.is_dir() else []
            refuse_second_spelling(person, [*current.card.labels, *folders], "person")
        except FaceopsError as exc:
            raise HTTPException(400, str(exc)) from None
        try:
            refuse_forgotten(person, ".", raw, "?re_enrol=true", re_enrol)
        except FaceopsError as exc:
            raise HTTPException(409, str(exc)) from None
        data, name = await read_upload(request, service.limits)
        try:  # dataset/raw changes: one writer at a time, as `faceops enrol`; never wait for another
            with project_lock(f"POST /people/{person}/photos", ".", wait=False):
                answer = await service.workers.enrol(current, raw, person, data, name)
        except ProjectBusyError as exc:
            raise HTTPException(409, str(exc)) from None
        if "error" in answer:
            raise HTTPException(STATUS_FOR.get(answer["error"], 422), answer["reason"])
        photos = sorted(path for path in (raw / person).iterdir() if is_image_name(path))
        everyone = sum(1 for path in raw.glob("*/*") if is_image_name(path))
        known = person in current.card.labels
        return {
            "person": person,
            "saved": answer["saved"],
            "photos_of_person": len(photos),
            "photos_in_data_set": everyone,
            "known_to_live_model": known,
            "next_retrain": (
                f"{len(photos)} photos of {person} ({'known to the live model' if known else 'a new person'}) "
                f"among {everyone} photos in {raw}, once `dvc add {raw}` and a commit record them "
                "(or faceops enrol --push from the machine that holds the data)"
            ),
        }

    return routes
