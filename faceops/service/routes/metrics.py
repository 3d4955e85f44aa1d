"""GET /metrics: the service's metrics in Prometheus's text format (faceops.service.metrics)."""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at run time.
from faceops.service.metrics import waiting_counts
from faceops.service.notify import hidden_people
from faceops.service.routes import Service


def router(service: Service):  # noqa: ANN201 - a FastAPI APIRouter
    """GET /metrics."""
    from fastapi import APIRouter
    from fastapi.responses import PlainTextResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST

    routes = APIRouter()

    @routes.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Counters, latency histograms and the live state, for Prometheus (a metrics or admin key)."""
        current = await service.holder.current()
        try:
            waiting = await service.keeper.bounded(waiting_counts, service.records)
        except Exception:  # a store that fails or hangs: no queue sizes in this scrape
            waiting = None
        drifts = await service.metrics.drift.get(service.keeper, service.records, current.card, hidden_people(current))
        queued = service.notifier.publisher.queued()
        body = service.metrics.exposition(service.holder, service.keeper, waiting, drifts, queued)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return routes
