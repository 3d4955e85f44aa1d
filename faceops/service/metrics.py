"""What GET /metrics says, in Prometheus's text format.

Everything is counted in the web process, where every route runs (the worker processes only decode photos and run
the model, and hand their answers back), so the numbers are whole without a multi-process collector. Each app has
its own registry: several apps in one process (the tests) do not count into each other.

Counted as it happens: recognitions by outcome, requests by route and status, /predict latency, events by sink and
outcome. Looked up at each scrape: the live model, the faces waiting for feedback and the verdicts waiting for review
(listings of the record store, bounded in time), the events queued, and each person's drift score, which reads the
recognition log of the last 7 days and so is worked out at most every 5 minutes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from faceops.model.card import ModelCard
from faceops.records.drift import UNKNOWN, PersonDrift, summarise_drift
from faceops.records.events import EventPublisher
from faceops.records.keeping import RecordKeeper
from faceops.records.store import RecordStore
from faceops.service.holder import ModelHolder

log = logging.getLogger(__name__)

OUTCOMES = ("named", "unknown", "no_face")
EVENT_OUTCOMES = ("sent", "failed", "dropped")
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)
DRIFT_EVERY = 300.0  # seconds between two readings of the recognition log for the drift scores
DRIFT_SINCE = "7d"  # as `faceops monitor`'s default window


class _Snapshot:
    """A collector of what the /metrics route looked up just before the registry is written out."""

    def __init__(self) -> None:
        self.families: list = []

    def collect(self):  # noqa: ANN201 - prometheus_client's collector protocol
        return iter(self.families)


class ServiceMetrics:
    """One app's metrics and their registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = registry = CollectorRegistry()
        self.recognitions = Counter(
            "faceops_recognitions",
            "Faces answered by /predict, by outcome (a photo without a face counts once, as no_face)",
            ["outcome"],
            registry=registry,
        )
        for outcome in OUTCOMES:
            self.recognitions.labels(outcome)
        self.requests = Counter(
            "faceops_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.predict_seconds = Histogram(
            "faceops_predict_seconds",
            "POST /predict from the upload read to the answer",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.worker_seconds = Histogram(
            "faceops_predict_worker_seconds",
            "The worker's part of POST /predict: decode, detection and the model, queueing included",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.events = Counter(
            "faceops_events",
            "Events by sink and outcome: sent; failed (the sink is down or refused it); dropped (its queue was full)",
            ["sink", "outcome"],
            registry=registry,
        )
        self.snapshot = _Snapshot()
        registry.register(self.snapshot)
        self.drift = DriftScores()

    def count_event(self, sink: str, outcome: str) -> None:
        """The publisher's counting hook (called from its threads; prometheus_client counters are thread-safe)."""
        self.events.labels(sink, outcome).inc()

    def watch(self, publisher: EventPublisher) -> EventPublisher:
        """Show every sink's outcomes from the start, at 0."""
        for sink in publisher.sinks:
            for outcome in EVENT_OUTCOMES:
                self.events.labels(sink.name, outcome)
        return publisher

    def recognised(self, faces: Sequence[dict]) -> None:
        if not faces:
            self.recognitions.labels("no_face").inc()
        for face in faces:
            self.recognitions.labels("unknown" if face["name"] == UNKNOWN else "named").inc()

    def exposition(
        self,
        holder: ModelHolder,
        keeper: RecordKeeper,
        waiting: tuple[int, int] | None,
        drifts: Sequence[PersonDrift],
        queued: dict[str, int],
    ) -> bytes:
        """The text format of every metric, with the looked-up ones as given (`waiting`: pending faces and feedback
        verdicts, None when the store did not answer)."""
        from prometheus_client import generate_latest
        from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

        model = {"version": holder.version, "backbone": holder.live.card.backbone, "status": holder.health()["status"]}
        families: list = [
            InfoMetricFamily("faceops_model", "The live model", value=model),
            GaugeMetricFamily("faceops_records_ok", "1 while the record store keeps records", value=not keeper.problem),
        ]
        if waiting is not None:
            families.append(GaugeMetricFamily("faceops_pending_faces", "Faces waiting for feedback", value=waiting[0]))
            families.append(
                GaugeMetricFamily("faceops_feedback_waiting", "Verdicts waiting for review", value=waiting[1])
            )
        score = GaugeMetricFamily(
            "faceops_drift_score",
            f"Per person: recent median distance minus the median at training, over {DRIFT_SINCE} "
            "(faceops monitor flags a rise over 0.05 with 10 faces)",
            labels=["person"],
        )
        faces = GaugeMetricFamily(
            "faceops_drift_faces", f"Per person: their faces over {DRIFT_SINCE}", labels=["person"]
        )
        for drift in drifts:
            score.add_metric([drift.person], drift.rise)
            faces.add_metric([drift.person], drift.faces)
        events = GaugeMetricFamily("faceops_events_queued", "Events waiting in each sink's queue", labels=["sink"])
        for sink, size in queued.items():
            events.add_metric([sink], size)
        self.snapshot.families = [*families, score, faces, events]
        return generate_latest(self.registry)


def waiting_counts(records: RecordStore) -> tuple[int, int]:
    """Faces waiting for feedback and verdicts waiting for review: listings of the store, no record read."""
    return tuple(sum(e.key.endswith(".json") for e in records.entries(kind)) for kind in ("pending/", "feedback/"))


class DriftScores:
    """Each person's drift, as `faceops monitor` works it out, read again at most every `every` seconds or when the
    live model changes."""

    def __init__(self, every: float = DRIFT_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.people: tuple[PersonDrift, ...] = ()
        self._read: tuple[float, str] | None = None  # when, and for which model version

    async def get(self, keeper: RecordKeeper, records: RecordStore, card: ModelCard, hidden: set[str]) -> list:
        """The scores, without the `hidden` people; none when the store fails or the card has no baseline."""
        fresh = self._read is not None and self._read[1] == card.version and self.clock() - self._read[0] < self.every
        if not fresh:
            self._read = (self.clock(), card.version)
            try:
                self.people = (await keeper.bounded(summarise_drift, records, card, DRIFT_SINCE)).people
            except Exception as exc:  # no baseline in the card, a store that fails: no scores, said in the log
                log.info("drift scores for /metrics: none (%s)", exc)
                self.people = ()
        return [drift for drift in self.people if drift.person not in hidden]


class RequestMetrics:
    """ASGI middleware: counts every request by its route's path (`/people/{person}/photos`, never the path asked
    for: the label set stays small), method and status; a path that no route has is `unmatched`."""

    def __init__(self, app, metrics: ServiceMetrics, routes: list) -> None:  # noqa: ANN001 - an ASGI app
        self.app, self.metrics, self.routes = app, metrics, routes
        self._flat: list | None = None

    def route_of(self, scope: dict) -> str:
        """The route FastAPI chose; for a request refused before routing (Host, key), the route it would have."""
        from starlette.routing import Match

        if getattr(scope.get("route"), "path", None):
            return scope["route"].path
        if self._flat is None:  # the routes are all there by the first request
            self._flat = list(_flatten(self.routes))
        for route in self._flat:
            if route.matches(scope)[0] != Match.NONE:  # PARTIAL: the path is a route's, the method not (405)
                return route.path
        return "unmatched"

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.requests.labels(self.route_of(scope), scope["method"], str(status)).inc()


def _flatten(routes: list):  # noqa: ANN202 - an iterator of Starlette routes
    """The routes with a path, those of included routers too (FastAPI 0.12x+ keeps an included router whole)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _flatten(inner.routes)
        elif getattr(route, "path", None) is not None:
            yield route
