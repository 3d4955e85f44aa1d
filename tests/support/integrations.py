"""Helpers of tests/*/test_integrations.py, shared by its tiers."""

import json
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import free_port

SECRET = "webhook-secret-0123456789"


BROKER_SCRIPT = """
import asyncio, sys
from amqtt.broker import Broker

async def serve(port: int) -> None:
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    await Broker(config).start()
    await asyncio.Event().wait()

asyncio.run(serve(int(sys.argv[1])))
"""


class Broker:
    """amqtt's broker on a free port of 127.0.0.1, in a process of its own.

    A process, so that `stop` is what a broker going away is: killed, its connections dropped. amqtt's own
    shutdown waits on its clients' sessions and once hung past 20 s in CI with the service still connected."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.log = tmp_path / f"broker-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", BROKER_SCRIPT, str(self.port)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while not self._accepts():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the MQTT broker did not start: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


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
def broker(tmp_path):
    broker = Broker(tmp_path)
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


def wait_until(check, timeout: float = 15.0) -> None:  # noqa: ANN001 - a predicate
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


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


def _families(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(families: dict, name: str, sample: str, **labels: str) -> float:
    return sum(s.value for s in families[name].samples if s.name == sample and labels.items() <= s.labels.items())
