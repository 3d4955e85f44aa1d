"""Integrations for real: events to an MQTT broker (amqtt on 127.0.0.1) described for Home Assistant's discovery,
signed webhooks (an http.server receiver), and GET /metrics for Prometheus. Most tests drive the publisher and the
metrics directly (no model, fast); one starts `faceops serve` with a dlib model trained here (slow)."""

import hashlib
import hmac
import json
import re
import socket
import time

from helpers import free_port, sh, tool_env
from support.integrations import SECRET, Receiver, check_discovery, wait_until

from faceops.records.events import EventPublisher, EventSettings, WebhookSink, signature_of
from faceops.records.mqtt import MqttSink, person_slug

PREDICT_KEY, METRICS_KEY, ADMIN_KEY = "predict-key-integ-0123456", "metrics-key-integ-0123456", "admin-key-integ-012345"


# ---- a real broker, a subscriber and a webhook receiver on 127.0.0.1 ----


class Counts(dict):
    """The publisher's counting hook, kept."""

    def __call__(self, sink: str, outcome: str) -> None:
        self[sink, outcome] = self.get((sink, outcome), 0) + 1


# ---- Home Assistant's MQTT discovery schema: what it requires of a sensor and a binary sensor ----


def settings(**fields: object) -> EventSettings:
    return EventSettings(**{"source": "door", **fields})


# ---- settings ----


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
    for _ in range(100):
        publisher.publish("recognition", faces=[], named=[], unknown=0)
    wait_until(lambda: counts.get(("mqtt", "failed"), 0) >= 1 and not sink.queue.qsize())
    # Queued, not sent: a publish that waited for its send would never find the queue of 5 full.
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
    for number in range(200):
        publisher.publish("recognition", number=number)
    wait_until(lambda: counts.get(("webhook-1", "failed"), 0) >= 1)
    # Queued, not sent: a publish that waited for its send would never find the queue of 10 full.
    assert counts[("webhook-1", "dropped")] >= 180 and ("webhook-1", "sent") not in counts
    started = time.perf_counter()
    publisher.close(timeout=1.0)
    assert time.perf_counter() - started < 2.0


# ---- /metrics ----


# ---- the service for real ----
