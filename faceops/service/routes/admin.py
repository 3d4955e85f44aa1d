"""The page and the service's health (the offline /docs page comes with the app itself)."""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at run time.
from importlib import resources

from faceops.service.routes import Service


def router(service: Service):  # noqa: ANN201 - a FastAPI APIRouter
    """GET / (the page) and GET /health (the live model's and the record store's)."""
    from fastapi import APIRouter
    from fastapi.responses import HTMLResponse

    routes = APIRouter()
    page = resources.files("faceops").joinpath("web/index.html").read_text()

    @routes.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return page

    @routes.get("/health")
    async def health() -> dict:
        await service.holder.current()
        return {**service.holder.health(), **service.keeper.health()}

    return routes
