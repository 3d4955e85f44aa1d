"""Who is in a photo: /predict, the live model's description (/model) and /reload."""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at run time.
import time

from faceops.people.forgotten import hide
from faceops.records.drift import UNKNOWN
from faceops.service.notify import hidden_people
from faceops.service.routes import Service
from faceops.service.transport import STATUS_FOR, read_upload


def router(service: Service):  # noqa: ANN201 - a FastAPI APIRouter
    """GET /model, POST /reload and POST /predict."""
    from fastapi import APIRouter, HTTPException, Request
    from starlette.concurrency import run_in_threadpool

    routes = APIRouter()
    holder = service.holder

    @routes.get("/model")
    async def model() -> dict:
        await holder.current()
        info, hidden = holder.info(), hidden_people(holder.live)
        return {**info, "labels": [label for label in info["labels"] if label not in hidden]}

    @routes.post("/reload")
    async def reload() -> dict:
        await run_in_threadpool(holder.refresh, True)
        return holder.health()

    @routes.post("/predict")
    async def predict(request: Request) -> dict:
        with service.metrics.predict_seconds.time():
            return await answer_photo(request)

    async def answer_photo(request: Request) -> dict:
        data, name = await read_upload(request, service.limits)
        current = await holder.current()
        started = time.perf_counter()
        answer = await service.workers.predict(current, data, name)
        service.metrics.worker_seconds.observe(time.perf_counter() - started)
        if "error" in answer:
            raise HTTPException(STATUS_FOR.get(answer["error"], 400), answer["reason"])
        hidden = hidden_people(current)  # a forget under way: never named from its start
        answer["faces"], faces = hide(answer["faces"], answer.pop("records"), hidden)
        lines = [
            {"time": r.time, "name": r.name, "label": r.label, "distance": r.distance, "model": r.model_version}
            for r in faces
            if r.label != UNKNOWN  # a forgotten person's faces are not logged
        ]
        problem = await service.keeper.keep(list(zip(answer.pop("crops"), faces)), lines)
        if problem is not None:  # answered all the same: no feedback ids, and why
            answer["faces"] = [{k: v for k, v in face.items() if k != "id"} for face in answer["faces"]]
            answer["feedback_unavailable"] = problem
        service.metrics.recognised(answer["faces"])
        service.notifier.recognition(current, hidden, answer)
        return {**answer, "model_version": current.version}

    return routes
