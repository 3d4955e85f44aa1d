"""Integrations for real: events to an MQTT broker (amqtt on 127.0.0.1) described for Home Assistant's discovery,
signed webhooks (an http.server receiver), and GET /metrics for Prometheus. Most tests drive the publisher and the
metrics directly (no model, fast); one starts `faceops serve` with a dlib model trained here (slow)."""

import asyncio
import re
from types import SimpleNamespace

import pytest
from support.integrations import SECRET, _families, _value

from faceops.core.errors import FaceopsError
from faceops.records.events import EventSettings
from faceops.service.access import AccessGuard, parse_keys
from faceops.service.metrics import RequestMetrics, ServiceMetrics

MQTT_PASSWORD = "mqtt-password-0123456789"
PREDICT_KEY, METRICS_KEY, ADMIN_KEY = "predict-key-integ-0123456", "metrics-key-integ-0123456", "admin-key-integ-012345"


# ---- a real broker, a subscriber and a webhook receiver on 127.0.0.1 ----


# ---- Home Assistant's MQTT discovery schema: what it requires of a sensor and a binary sensor ----


# ---- settings ----


def test_event_settings_come_from_the_environment_and_never_show_a_secret():
    environ = {
        "FACEOPS_MQTT_URL": "mqtts://broker.lan:8884",
        "FACEOPS_MQTT_USER": "faceops",
        "FACEOPS_MQTT_PASSWORD": MQTT_PASSWORD,
        "FACEOPS_WEBHOOK_URLS": "https://a.example/hook, http://b.example:8123/api/webhook/x",
        "FACEOPS_WEBHOOK_SECRET": SECRET,
        "FACEOPS_EVENT_SOURCE": "front-door",
    }
    found = EventSettings.from_environment(environ)
    assert found.mqtt_url == "mqtts://broker.lan:8884" and found.mqtt_user == "faceops"
    assert found.webhook_urls == ("https://a.example/hook", "http://b.example:8123/api/webhook/x")
    assert found.source == "front-door" and found.enabled
    assert MQTT_PASSWORD not in repr(found) + found.describe() and SECRET not in repr(found) + found.describe()
    off = EventSettings.from_environment({})
    assert not off.enabled and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", off.source)


@pytest.mark.parametrize(
    "environ, message",
    [
        (
            {"FACEOPS_MQTT_URL": "http://broker:1883"},
            "FACEOPS_MQTT_URL='http://broker:1883': allowed: mqtt://HOST:PORT",
        ),
        ({"FACEOPS_MQTT_URL": "mqtt://broker:99999"}, "FACEOPS_MQTT_URL='mqtt://broker:99999': allowed: mqtt://"),
        (
            {"FACEOPS_MQTT_URL": f"mqtt://me:{MQTT_PASSWORD}@broker"},
            "FACEOPS_MQTT_URL='mqtt://***@broker': allowed: no",
        ),
        ({"FACEOPS_MQTT_USER": "me"}, "FACEOPS_MQTT_USER is set but FACEOPS_MQTT_URL is not"),
        (
            {"FACEOPS_MQTT_URL": "mqtt://b", "FACEOPS_MQTT_PASSWORD": MQTT_PASSWORD},
            "FACEOPS_MQTT_PASSWORD is set without",
        ),
        ({"FACEOPS_WEBHOOK_URLS": "ftp://x.example/", "FACEOPS_WEBHOOK_SECRET": SECRET}, "'ftp://x.example/': allowed"),
        ({"FACEOPS_WEBHOOK_URLS": "https://x.example/"}, "FACEOPS_WEBHOOK_SECRET has 0 characters"),
        ({"FACEOPS_WEBHOOK_URLS": "https://x.example/", "FACEOPS_WEBHOOK_SECRET": "tiny"}, "has 4 characters"),
        ({"FACEOPS_EVENT_SOURCE": "front door"}, "FACEOPS_EVENT_SOURCE='front door': allowed: 1 to 64 letters"),
    ],
)
def test_a_bad_event_setting_is_one_line_naming_it(environ, message):
    with pytest.raises(FaceopsError) as error:
        EventSettings.from_environment(environ)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert MQTT_PASSWORD not in str(error.value) and "tiny" not in str(error.value)


# ---- MQTT and Home Assistant ----


# ---- webhooks ----


# ---- /metrics ----


def test_metrics_count_in_their_own_registry_and_parse():
    metrics, other = ServiceMetrics(), ServiceMetrics()  # two apps in one process do not clash
    metrics.recognised([{"name": "Tony_Blair"}, {"name": "unknown"}])
    metrics.recognised([])
    metrics.count_event("mqtt", "failed")
    metrics.predict_seconds.observe(0.12)
    holder = SimpleNamespace(
        version="v7",
        live=SimpleNamespace(card=SimpleNamespace(backbone="dlib_resnet")),
        health=lambda: {"status": "ok"},
    )
    drift = SimpleNamespace(person="Tony_Blair", rise=0.02, faces=12)
    text = metrics.exposition(holder, SimpleNamespace(problem=None), (4, 2), [drift], {"mqtt": 3}).decode()
    families = _families(text)
    assert _value(families, "faceops_recognitions", "faceops_recognitions_total") == 3
    assert _value(families, "faceops_recognitions", "faceops_recognitions_total", outcome="no_face") == 1
    assert _value(families, "faceops_events", "faceops_events_total", sink="mqtt", outcome="failed") == 1
    assert _value(families, "faceops_model_info", "faceops_model_info", version="v7", backbone="dlib_resnet") == 1
    assert _value(families, "faceops_pending_faces", "faceops_pending_faces") == 4
    assert _value(families, "faceops_feedback_waiting", "faceops_feedback_waiting") == 2
    assert _value(families, "faceops_drift_score", "faceops_drift_score", person="Tony_Blair") == 0.02
    assert _value(families, "faceops_events_queued", "faceops_events_queued", sink="mqtt") == 3
    assert _value(families, "faceops_predict_seconds", "faceops_predict_seconds_count") == 1
    other_text = other.exposition(holder, SimpleNamespace(problem=None), None, [], {}).decode()
    assert _value(_families(other_text), "faceops_recognitions", "faceops_recognitions_total") == 0


def test_requests_are_counted_by_route_never_by_the_path_asked_for():
    from fastapi import APIRouter, FastAPI

    app, router = FastAPI(), APIRouter()  # included, as the service's routes are

    @router.post("/people/{person}/photos")
    async def enrol(person: str) -> dict:
        return {}

    app.include_router(router)

    metrics = ServiceMetrics()
    counted = RequestMetrics(AccessGuard(app, ["localhost"], []), metrics, app.router.routes)

    async def ask(method: str, path: str, host: str = "localhost") -> None:
        scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": [(b"host", host.encode())], "root_path": "", "scheme": "http", "http_version": "1.1",
                 "server": ("localhost", 80), "client": ("127.0.0.1", 1)}  # fmt: skip
        messages = iter([{"type": "http.request", "body": b"", "more_body": False}])

        async def receive() -> dict:
            return next(messages, {"type": "http.disconnect"})

        async def send(message: dict) -> None:
            pass

        await counted(scope, receive, send)

    async def requests() -> None:
        await ask("POST", "/people/Ann/photos")
        await ask("POST", "/people/Bob/photos")
        await ask("GET", "/people/Bob/photos")  # 405
        await ask("GET", "/wp-admin")  # 404
        await ask("POST", "/people/Ann/photos", host="rebound.example")  # 400 from the guard

    asyncio.run(requests())
    families = _families(metrics.exposition(*_empty_state()).decode())
    count = lambda **labels: _value(families, "faceops_requests", "faceops_requests_total", **labels)  # noqa: E731
    assert count(route="/people/{person}/photos", status="200") == 2
    assert count(route="/people/{person}/photos", status="405") == 1
    assert count(route="/people/{person}/photos", status="400") == 1
    assert count(route="unmatched", status="404") == 1
    assert not [s for s in families["faceops_requests"].samples if "Ann" in str(s.labels)]


def _empty_state() -> tuple:
    """What `exposition` looks up, for a test of the counters alone."""
    card = SimpleNamespace(backbone="")
    holder = SimpleNamespace(version="", live=SimpleNamespace(card=card), health=lambda: {"status": "ok"})
    return holder, SimpleNamespace(problem=None), None, [], {}


def test_metrics_need_the_metrics_or_admin_key():
    keys = parse_keys(f"predict:{PREDICT_KEY},metrics:{METRICS_KEY},admin:{ADMIN_KEY}", "keys")
    guard = AccessGuard(None, ["127.0.0.1"], keys)
    local = {"host": "127.0.0.1:8000"}
    assert guard.refusal("/metrics", local)[0] == 401
    assert guard.refusal("/metrics", local | {"x-api-key": PREDICT_KEY}) == (
        403,
        "this key has the predict role; /metrics needs metrics",
    )
    assert guard.refusal("/metrics", local | {"x-api-key": METRICS_KEY}) is None
    assert guard.refusal("/metrics", local | {"x-api-key": ADMIN_KEY}) is None
    assert guard.refusal("/predict", local | {"x-api-key": METRICS_KEY})[0] == 403  # a scraper reads, nothing more
    assert AccessGuard(None, ["127.0.0.1"], []).refusal("/metrics", local) is None  # no keys: open on loopback


# ---- the service for real ----
