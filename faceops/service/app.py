"""`faceops serve`: a small web service (FastAPI) and page that name the faces in a photo.

It shares the CLI's loading and prediction path (Recogniser, FacePredictor), checks uploads by
content and size, and answers bad input with a 4xx and a message.

Two kinds of process, so that no request waits behind another's face:
- the web process answers HTTP and does no image work; it holds the live model (`holder`), swapping in a new
  one only once it loads, and guards the connections and uploads (`transport`);
- worker processes (one per core, `--workers`) decode photos and run detection and the backbone (`workers`).

This module assembles the app from those parts, the access rules (`access`), the routes (`routes`), the metrics
(`metrics`) and the events (`notify`), and runs it.
"""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at run time.
import logging
import os
from pathlib import Path

from faceops.core.errors import FaceopsError
from faceops.core.layout import LAYOUT
from faceops.records.events import EventPublisher, EventSettings
from faceops.records.feedback import FeedbackStore, PendingStore
from faceops.records.keeping import RecordKeeper, check_usable
from faceops.records.store import RecordStore, open_store
from faceops.service.access import (
    KEYS_VARIABLE,
    LOCAL_HOSTS,
    AccessGuard,
    ApiKey,
    default_allowed_hosts,
    document_keys,
    is_loopback,
    keys_from_environment,
)
from faceops.service.holder import ModelHolder
from faceops.service.metrics import RequestMetrics, ServiceMetrics
from faceops.service.notify import Notifier
from faceops.service.routes import Service, admin, console, feedback, metrics, people, recognition
from faceops.service.transport import HeadAsGet, Limits, bad_request, guarded_protocol
from faceops.service.workers import Workers

log = logging.getLogger(__name__)


def create_app(
    model_path: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str] | None = None,
    limits: Limits = Limits(),
    workers: int | None = None,
    allowed_hosts: list[str] | None = None,
    keys: list[ApiKey] | None = None,
    raw_dir: str | os.PathLike[str] = LAYOUT.raw,
    records: RecordStore | None = None,
    events: EventSettings | None = None,
):  # noqa: ANN201 - FastAPI
    """The service: the page, /health, /model, /predict, /feedback, /reload, enrolment, /metrics and offline /docs,
    behind the Host and key check. Enrolled photos go to `raw_dir`, one folder per person, as `faceops capture`
    writes them; waiting crops, feedback and the recognition log go to `records` (default: this folder); events
    go where `events` says (default: nowhere)."""
    from contextlib import asynccontextmanager

    from fastapi.exceptions import RequestValidationError
    from fastapi_offline import FastAPIOffline

    records = records or open_store(".")
    pending, feedback_store = PendingStore(records), FeedbackStore(records)
    keeper = RecordKeeper(pending, records)
    holder = ModelHolder.loaded(model_path, metrics_path)  # fail at start, with a clear message, without a model
    pool = Workers(workers)
    counters = ServiceMetrics()
    publisher = counters.watch(EventPublisher.from_settings(events or EventSettings(), counters.count_event))
    service = Service(
        pending=pending,
        feedback=feedback_store,
        keeper=keeper,
        holder=holder,
        workers=pool,
        records=records,
        raw=Path(raw_dir),
        limits=limits,
        metrics=counters,
        notifier=Notifier(publisher),
    )

    @asynccontextmanager
    async def lifespan(app):  # noqa: ANN001, ANN202 - FastAPI
        service.notifier.start(holder.live)
        await pool.warm_up(holder.live)
        try:
            yield
        finally:
            service.close()

    app = FastAPIOffline(  # /docs from Swagger UI files inside the package: it works offline
        title="faceops",
        description="Who is this? Upload a photo; get the faces, names and confidences.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.add_middleware(AccessGuard, allowed_hosts=allowed_hosts or list(LOCAL_HOSTS), keys=keys or [])
    if keys:
        document_keys(app)
    app.add_middleware(HeadAsGet)
    app.add_middleware(RequestMetrics, metrics=counters, routes=app.router.routes)  # outermost: refusals count too
    app.add_exception_handler(RequestValidationError, bad_request)
    for resource in (admin, recognition, feedback, people, console, metrics):
        app.include_router(resource.router(service))
    return app


def serve(
    model_path: str,
    host: str,
    port: int,
    metrics_path: str | None,
    workers: int | None = None,
    allowed_hosts: list[str] | None = None,
    insecure: bool = False,
    limits: Limits = Limits(),
    raw_dir: str = LAYOUT.raw,
    records: str | None = None,
) -> None:
    """Run the service. Without API keys it binds only to loopback, unless `insecure`. `records`: where crops,
    feedback and the recognition log go (a folder or remote://NAME/PATH; default FACEOPS_RECORDS, else here)."""
    import uvicorn

    keys = keys_from_environment()
    if not keys and not is_loopback(host) and not insecure:
        raise FaceopsError(
            f"--host {host} would let anyone who can reach this machine use the service without a key; "
            f"set {KEYS_VARIABLE} (see docs/serving.md, 'Exposing the service') or pass --insecure"
        )
    if not keys and not is_loopback(host):
        log.warning("serving on %s without API keys (--insecure): anyone who can reach it may use it", host)
    events = EventSettings.from_environment()
    hosts = allowed_hosts or default_allowed_hosts(host)
    store = open_store(records)
    check_usable(store)
    log.info("records (waiting crops, feedback, recognition log): %s", store.where)
    log.info("API keys: %d (%s); allowed Host names: %s", len(keys), "required" if keys else "off", ", ".join(hosts))
    log.info("%s", events.describe())
    app = create_app(
        model_path,
        metrics_path,
        limits=limits,
        workers=workers,
        allowed_hosts=hosts,
        keys=keys,
        raw_dir=raw_dir,
        records=store,
        events=events,
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        http=guarded_protocol(limits.header_timeout),
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers
    )
