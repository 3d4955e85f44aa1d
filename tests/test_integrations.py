"""Integrations for real: events to an MQTT broker (amqtt on 127.0.0.1) described for Home Assistant's discovery,
signed webhooks (an http.server receiver), and GET /metrics for Prometheus. Most tests drive the publisher and the
metrics directly (no model, fast); one starts `faceops serve` with a dlib model trained here (slow)."""

import asyncio
import hashlib
import hmac
import io
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import free_port, make_project, sh, tool_env
from PIL import Image
from test_serve import post, start_server, stop_server

from faceops.core.errors import FaceopsError
from faceops.records.events import EventPublisher, EventSettings, WebhookSink, signature_of
from faceops.records.mqtt import MqttSink, person_slug
from faceops.service.access import AccessGuard, parse_keys
from faceops.service.metrics import RequestMetrics, ServiceMetrics

SECRET = "webhook-secret-0123456789"
MQTT_PASSWORD = "mqtt-password-0123456789"
PREDICT_KEY, METRICS_KEY, ADMIN_KEY = "predict-key-integ-0123456", "metrics-key-integ-0123456", "admin-key-integ-012345"


# ---- a real broker, a subscriber and a webhook receiver on 127.0.0.1 ----


class Broker:
    """amqtt's broker on a free port of 127.0.0.1, in a thread of its own event loop."""

    def __init__(self) -> None:
        from amqtt.broker import Broker as Amqtt

        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def started() -> Amqtt:
            broker = Amqtt(config)
            await broker.start()
            return broker

        self.broker = asyncio.run_coroutine_threadsafe(started(), self.loop).result(timeout=20)
        self.url = f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.broker.shutdown(), self.loop).result(timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class Listener:
    """A paho subscriber to everything on the broker: each topic's messages as (payload, retained), in order."""

    def __init__(self, broker: Broker) -> None:
        import paho.mqtt.client as mqtt

        self.messages: dict[str, list[tuple[bytes, bool]]] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"listener-{broker.port}")
        self.client.on_message = lambda client, userdata, m: self.messages.setdefault(m.topic, []).append(
            (m.payload, bool(m.retain))
        )
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe("#", qos=1)
        self.client.loop_start()

    def wait(self, check, timeout: float = 15.0):  # noqa: ANN001, ANN201 - a predicate on the messages
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check(self.messages)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"not seen within {timeout} s; topics: {sorted(self.messages)}")

    def last(self, topic: str) -> bytes:
        return self.wait(lambda messages: messages.get(topic))[-1][0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Receiver:
    """A webhook endpoint: answers the statuses in `answers` in turn (then 200) and keeps each request."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.answers = list(answers or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, kind: str) -> list[dict]:
        return [json.loads(body) for _, body in self.requests if json.loads(body)["type"] == kind]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def broker():
    broker = Broker()
    yield broker
    broker.stop()


@pytest.fixture
def listener(broker):
    listener = Listener(broker)
    yield listener
    listener.close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


class Counts(dict):
    """The publisher's counting hook, kept."""

    def __call__(self, sink: str, outcome: str) -> None:
        self[sink, outcome] = self.get((sink, outcome), 0) + 1


def wait_until(check, timeout: float = 15.0) -> None:  # noqa: ANN001 - a predicate
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


# ---- Home Assistant's MQTT discovery schema: what it requires of a sensor and a binary sensor ----

SENSOR_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic", "device", "device_class",
    "enabled_by_default", "encoding", "entity_category", "entity_picture", "expire_after", "force_update", "icon",
    "json_attributes_template", "json_attributes_topic", "name", "object_id", "default_entity_id", "origin", "qos",
    "state_class", "state_topic", "unique_id", "unit_of_measurement", "value_template", "platform",
}  # fmt: skip
BINARY_SENSOR_KEYS = SENSOR_KEYS - {"state_class", "unit_of_measurement"} | {"off_delay", "payload_on", "payload_off"}


def check_discovery(topic: str, payload: bytes) -> dict:
    """The checks Home Assistant's discovery makes of a config message (topic form, required and known keys, device,
    availability); the config."""
    prefix, component, node, object_id, last = topic.split("/")
    assert (prefix, last) == ("homeassistant", "config") and component in ("sensor", "binary_sensor")
    assert re.fullmatch(r"[a-zA-Z0-9_-]+", node) and re.fullmatch(r"[a-zA-Z0-9_-]+", object_id)
    config = json.loads(payload)
    assert set(config) <= (SENSOR_KEYS if component == "sensor" else BINARY_SENSOR_KEYS), set(config)
    assert config["state_topic"] and not set("+#") & set(config["state_topic"])
    assert config["unique_id"] and config["json_attributes_topic"]
    assert isinstance(config["device"]["identifiers"], list) and config["device"]["identifiers"]
    assert "availability_topic" not in config and all(entry["topic"] for entry in config["availability"])
    if component == "binary_sensor":
        assert (config["payload_on"], config["payload_off"]) == ("ON", "OFF") and config["off_delay"] > 0
    else:
        assert config["device_class"] == "timestamp" and config["value_template"] == "{{ value_json.time }}"
    return config


def settings(**fields: object) -> EventSettings:
    return EventSettings(**{"source": "door", **fields})


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


def test_serve_refuses_a_bad_event_setting_at_start_in_one_line(tmp_path):
    env = tool_env() | {"FACEOPS_MQTT_URL": "tcp://broker:1883"}
    result = sh("faceops", "serve", "--port", str(free_port()), cwd=tmp_path, check=False, env=env)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "FACEOPS_MQTT_URL='tcp://broker:1883': allowed: mqtt://HOST:PORT" in line


# ---- MQTT and Home Assistant ----


def test_mqtt_events_and_home_assistant_discovery_reach_a_real_broker(broker, listener):
    counts = Counts()
    publisher = EventPublisher.from_settings(settings(mqtt_url=broker.url), counts)
    publisher.announce(["Tony_Blair", "Colin_Powell"])  # before the connection: published on connecting
    publisher.start()
    faces = [
        {"name": "Tony_Blair", "confidence": 0.91, "distance": 0.3, "box": {"x": 1, "y": 2, "width": 3, "height": 4}},
        {"name": "unknown", "confidence": 0.2, "distance": 0.7, "box": {"x": 5, "y": 6, "width": 7, "height": 8}},
    ]
    publisher.publish("recognition", model_version="v1", faces=faces, named=["Tony_Blair"], unknown=1)
    event = json.loads(listener.last("faceops/door/recognition"))
    assert event["type"] == "recognition" and event["source"] == "door" and event["faces"] == faces
    assert event["time"].endswith("+00:00")
    state = json.loads(listener.last("faceops/door/person/Tony_Blair"))
    assert state == {"time": event["time"], "confidence": 0.91, "model_version": "v1"}
    assert json.loads(listener.last("faceops/door/unknown"))["state"] == "ON"
    assert listener.last("faceops/door/status") == b"online"
    configs = {
        topic: check_discovery(topic, listener.last(topic))
        for topic in [
            "homeassistant/sensor/faceops_door/person_Tony_Blair/config",
            "homeassistant/sensor/faceops_door/person_Colin_Powell/config",
            "homeassistant/binary_sensor/faceops_door/unknown/config",
        ]
    }
    assert len({config["unique_id"] for config in configs.values()}) == 3
    tony = configs["homeassistant/sensor/faceops_door/person_Tony_Blair/config"]
    assert tony["state_topic"] == tony["json_attributes_topic"] == "faceops/door/person/Tony_Blair"
    assert tony["availability"][0]["topic"] == "faceops/door/status"
    assert configs["homeassistant/binary_sensor/faceops_door/unknown/config"]["name"] == "someone unknown at door"
    wait_until(lambda: counts.get(("mqtt", "sent")) == 1)
    publisher.close()
    listener.wait(lambda messages: messages["faceops/door/status"][-1][0] == b"offline")


def test_mqtt_removes_a_forgotten_person_and_says_offline_by_its_last_will(broker, listener):
    first = EventPublisher.from_settings(settings(mqtt_url=broker.url))
    first.announce(["Ann", "Bob", "José"])
    first.start()
    jose = f"homeassistant/sensor/faceops_door/person_{person_slug('José')}/config"
    assert re.fullmatch(r"person_Jos__[0-9a-f]{8}", jose.split("/")[3])
    check_discovery(jose, listener.last(jose))
    first.announce(["Ann", "José"])  # Bob forgotten: his sensor and its state go
    assert listener.wait(
        lambda m: m.get("homeassistant/sensor/faceops_door/person_Bob/config", [(b"x",)])[-1][0] == b""
    )
    assert listener.last("faceops/door/person/Bob") == b""
    [sink] = first.sinks
    sink.client.socket().shutdown(socket.SHUT_RDWR)  # the service gone without a word: the broker sends the will
    listener.wait(lambda messages: (b"offline", False) in messages.get("faceops/door/status", []))
    first.close()
    second = EventPublisher.from_settings(settings(mqtt_url=broker.url))
    second.start()  # José forgotten while no service ran: the retained sensor left on the broker goes
    wait_until(lambda: jose in second.sinks[0]._seen)  # found on connecting, before anyone is announced
    second.announce(["Ann"])
    assert listener.wait(lambda messages: messages[jose][-1][0] == b"")
    assert json.loads(listener.last("homeassistant/sensor/faceops_door/person_Ann/config"))["name"] == "Ann last seen"
    second.close()


def test_mqtt_broker_down_is_counted_and_never_blocks_publishing():
    counts = Counts()
    sink = MqttSink(settings(mqtt_url=f"mqtt://127.0.0.1:{free_port()}"), counts, bound=5, grace=0.0)
    publisher = EventPublisher([sink], "door")
    publisher.start()
    started = time.perf_counter()
    for _ in range(100):
        publisher.publish("recognition", faces=[], named=[], unknown=0)
    assert time.perf_counter() - started < 0.1
    wait_until(lambda: counts.get(("mqtt", "failed"), 0) >= 1 and not sink.queue.qsize())
    assert counts.get(("mqtt", "dropped"), 0) >= 90 and ("mqtt", "sent") not in counts
    publisher.close()


# ---- webhooks ----


def test_webhook_events_are_signed_and_retried_with_backoff():
    receiver = Receiver(answers=[503, 500])
    counts = Counts()
    sink = WebhookSink("webhook-1", receiver.url, SECRET, counts, backoff=0.05)
    publisher = EventPublisher([sink], "door")
    publisher.start()
    publisher.publish("feedback", id="0123456789abcdef", verdict="not", person="Tony_Blair")
    wait_until(lambda: counts.get(("webhook-1", "sent")) == 1)
    assert len(receiver.requests) == 3  # two failures, then delivered
    bodies = {body for _, body in receiver.requests}
    [body] = bodies
    headers = receiver.requests[-1][0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Faceops-Signature"] == expected == signature_of(SECRET, body)
    assert headers["Content-Type"] == "application/json" and headers["X-Faceops-Event"] == "feedback"
    event = json.loads(body)
    assert (event["type"], event["verdict"], event["person"], event["source"]) == (
        "feedback",
        "not",
        "Tony_Blair",
        "door",
    )
    receiver.answers = [400]  # refused: not tried again
    publisher.publish("feedback", id="1", verdict="is", person="Ann")
    wait_until(lambda: counts.get(("webhook-1", "failed")) == 1)
    assert len(receiver.requests) == 4
    publisher.close()
    receiver.close()


def test_webhook_down_is_counted_and_a_full_queue_drops_without_waiting():
    counts = Counts()
    sink = WebhookSink("webhook-1", f"http://127.0.0.1:{free_port()}/hook", SECRET, counts, bound=10, backoff=0.01)
    publisher = EventPublisher([sink], "door")
    publisher.start()
    started = time.perf_counter()
    for number in range(200):
        publisher.publish("recognition", number=number)
    assert time.perf_counter() - started < 0.1
    wait_until(lambda: counts.get(("webhook-1", "failed"), 0) >= 1)
    assert counts[("webhook-1", "dropped")] >= 180 and ("webhook-1", "sent") not in counts
    started = time.perf_counter()
    publisher.close(timeout=1.0)
    assert time.perf_counter() - started < 2.0


# ---- /metrics ----


def _families(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(families: dict, name: str, sample: str, **labels: str) -> float:
    return sum(s.value for s in families[name].samples if s.name == sample and labels.items() <= s.labels.items())


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


@pytest.fixture(scope="module")
def project(tmp_path_factory, lfw):
    path = make_project(
        tmp_path_factory.mktemp("integrations") / "repo", lfw, people=3, images=12, train={"backbone": "dlib_resnet"}
    )
    sh("dvc", "repro", cwd=path)
    return path


def _get(url: str, key: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (90, 120, 150)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_mqtt_and_webhook_events_and_metrics_from_a_real_server(project, lfw, broker, listener, receiver):
    labels = json.loads((project / "models/model.json").read_text())["labels"]
    env = tool_env() | {
        "FACEOPS_API_KEYS": f"predict:{PREDICT_KEY},metrics:{METRICS_KEY},admin:{ADMIN_KEY}",
        "FACEOPS_MQTT_URL": broker.url,
        "FACEOPS_WEBHOOK_URLS": receiver.url,
        "FACEOPS_WEBHOOK_SECRET": SECRET,
        "FACEOPS_EVENT_SOURCE": "testdoor",
    }
    process, url = start_server(project, env=env)
    try:
        _served_events_and_metrics(url, labels, lfw, project, listener, receiver)
        broker.stop()  # the broker goes away: predict still answers, and the failure is counted
        started = time.perf_counter()
        status, _ = post(url, _blank_png(), "wall.png", "image/png", headers={"X-API-Key": PREDICT_KEY})
        assert status == 200 and time.perf_counter() - started < 5
        wait_until(lambda: _failed(url) >= 1)
    finally:
        output = stop_server(process)
    assert "events as source 'testdoor': MQTT mqtt://127.0.0.1" in output
    assert SECRET not in output and METRICS_KEY not in output


def _failed(url: str) -> float:
    families = _families(_get(url + "/metrics", METRICS_KEY)[1])
    return _value(families, "faceops_events", "faceops_events_total", sink="mqtt", outcome="failed")


def _served_events_and_metrics(url: str, labels: list, lfw: Path, project: Path, listener, receiver) -> None:  # noqa: ANN001
    """Three photos (a known face, a stranger, no face), one of someone being forgotten; what went out."""
    key = {"X-API-Key": PREDICT_KEY}
    known = sorted((lfw / labels[0]).iterdir())[-1].read_bytes()
    stranger = (lfw / "Serena_Williams" / "Serena_Williams_0001.jpg").read_bytes()
    answers = [post(url, photo, headers=key) for photo in (known, stranger)]
    answers.append(post(url, _blank_png(), "wall.png", "image/png", headers=key))
    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[0][1]["faces"][0]["name"] == labels[0] and answers[1][1]["faces"][0]["name"] == "unknown"

    events = listener.wait(lambda m: len(m.get("faceops/testdoor/recognition", [])) >= 3 and m)
    sent = [json.loads(payload) for payload, _ in events["faceops/testdoor/recognition"]]
    assert [[face["name"] for face in event["faces"]] for event in sent] == [[labels[0]], ["unknown"], []]
    assert sent[0]["named"] == [labels[0]] and sent[1]["unknown"] == 1 and sent[0]["model_version"]
    assert "id" not in sent[0]["faces"][0]
    for person in labels:
        topic = f"homeassistant/sensor/faceops_testdoor/person_{person}/config"
        check_discovery(topic, listener.last(topic))
    assert json.loads(listener.last(f"faceops/testdoor/person/{labels[0]}"))["time"] == sent[0]["time"]

    wait_until(lambda: len(receiver.events("recognition")) == 3)
    for headers, body in receiver.requests:
        assert headers["X-Faceops-Signature"] == signature_of(SECRET, body)
    assert receiver.events("model")[0]["people"] == len(labels)

    forgotten = project / ".faceops/forget" / f"{labels[1]}.json"  # a forget under way: never published from now
    forgotten.parent.mkdir(parents=True, exist_ok=True)
    forgotten.write_text("{}")
    try:
        photo = sorted((lfw / labels[1]).iterdir())[-1].read_bytes()
        status, answer = post(url, photo, headers=key)
        assert status == 200 and answer["faces"][0]["name"] == "unknown"
        gone = f"homeassistant/sensor/faceops_testdoor/person_{labels[1]}/config"
        listener.wait(lambda m: m[gone][-1][0] == b"")
        wait_until(lambda: len(receiver.events("recognition")) == 4)
    finally:
        forgotten.unlink()
    last = listener.messages["faceops/testdoor/recognition"][-1][0].decode()
    assert json.loads(last)["faces"][0]["name"] == "unknown" and labels[1] not in last
    assert labels[1] not in receiver.requests[-1][1].decode()
    assert listener.last(f"faceops/testdoor/person/{labels[1]}") == b""  # their last-seen state is gone too

    _check_metrics(url)


def _check_metrics(url: str) -> None:
    assert _get(url + "/metrics")[0] == 401
    status, text = _get(url + "/metrics", PREDICT_KEY)
    assert status == 403 and "needs metrics" in text
    assert _get(url + "/metrics", ADMIN_KEY)[0] == 200
    status, text = _get(url + "/metrics", METRICS_KEY)
    assert status == 200
    families = _families(text)
    assert _value(families, "faceops_recognitions", "faceops_recognitions_total") >= 3
    for outcome in ("named", "unknown", "no_face"):
        assert _value(families, "faceops_recognitions", "faceops_recognitions_total", outcome=outcome) >= 1
    assert _value(families, "faceops_requests", "faceops_requests_total", route="/predict", status="200") >= 4
    assert _value(families, "faceops_requests", "faceops_requests_total", route="/metrics", status="403") == 1
    assert _value(families, "faceops_predict_seconds", "faceops_predict_seconds_count") >= 4
    assert _value(families, "faceops_model_info", "faceops_model_info", backbone="dlib_resnet") == 1
    assert _value(families, "faceops_pending_faces", "faceops_pending_faces") >= 2
    assert _value(families, "faceops_events", "faceops_events_total", sink="mqtt", outcome="sent") >= 4
    assert _value(families, "faceops_events", "faceops_events_total", sink="webhook-1", outcome="sent") >= 4
