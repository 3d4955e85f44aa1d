"""Events to an MQTT broker, described for Home Assistant's MQTT discovery so that its sensors appear by themselves.

Topics, for source SOURCE (FACEOPS_EVENT_SOURCE):
- `faceops/SOURCE/recognition`: each recognition's event (JSON); `faceops/SOURCE/feedback`, `faceops/SOURCE/model`
  (retained: the live model) likewise;
- `faceops/SOURCE/person/PERSON`: retained `{"time", "confidence", "model_version"}` of the person's last recognition,
  the state of the Home Assistant sensor "PERSON last seen";
- `faceops/SOURCE/unknown`: retained `{"state": "ON"|"OFF", ...}`, the binary sensor "someone unknown at SOURCE"
  (ON when the last photo had an unknown face; OFF after the next photo without one, or a minute);
- `faceops/SOURCE/status`: retained `online`, and `offline` as the last will when the service goes away;
- `homeassistant/sensor/faceops_SOURCE/person_PERSON/config` and `homeassistant/binary_sensor/faceops_SOURCE/unknown/
  config`: the retained discovery messages. When a person leaves the announced people (forgotten, or no longer in the
  live model) their discovery message and state are removed (an empty retained message), so that Home Assistant drops
  the sensor; on connecting, stale ones left on the broker from an earlier run are removed likewise.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from faceops.records.drift import UNKNOWN
from faceops.records.events import QUEUE_BOUND, Count, DeliveryError, EventSettings, Sink, no_count

log = logging.getLogger(__name__)

DISCOVERY_PREFIX = "homeassistant"
AVAILABLE, NOT_AVAILABLE = "online", "offline"
UNKNOWN_OFF_DELAY = 60  # seconds the "someone unknown" sensor stays on without a new photo
CONNECT_GRACE = 3.0  # seconds events wait for the first connection after start; after that, no wait


def person_slug(person: str) -> str:
    """`person` as a topic level and Home Assistant object id ([A-Za-z0-9_-]); distinct names stay distinct."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", person)
    return safe if safe == person else f"{safe}_{hashlib.sha256(person.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Topics:
    """The topics of one source."""

    source: str
    prefix: str = DISCOVERY_PREFIX

    @property
    def base(self) -> str:
        return f"faceops/{self.source}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def unknown(self) -> str:
        return f"{self.base}/unknown"

    @property
    def node(self) -> str:
        return f"faceops_{self.source}"

    def event(self, kind: str) -> str:
        return f"{self.base}/{kind}"

    def person(self, slug: str) -> str:
        return f"{self.base}/person/{slug}"

    def person_config(self, slug: str) -> str:
        return f"{self.prefix}/sensor/{self.node}/person_{slug}/config"

    @property
    def unknown_config(self) -> str:
        return f"{self.prefix}/binary_sensor/{self.node}/unknown/config"

    @property
    def person_configs(self) -> str:
        """A subscription to every person sensor's discovery message of this source."""
        return f"{self.prefix}/sensor/{self.node}/+/config"


def discovery(topics: Topics, people: Sequence[str]) -> dict[str, dict]:
    """Home Assistant's discovery messages (topic -> config): the "someone unknown" binary sensor and a "last seen"
    timestamp sensor per person, all of one device, available while the service is."""
    device = {
        "identifiers": [topics.node],
        "name": f"faceops {topics.source}",
        "manufacturer": "faceops",
        "model": "face recognition",
    }
    common = {
        "device": device,
        "availability": [
            {"topic": topics.status, "payload_available": AVAILABLE, "payload_not_available": NOT_AVAILABLE}
        ],
        "origin": {"name": "faceops"},
    }
    configs = {
        topics.unknown_config: {
            **common,
            "name": f"someone unknown at {topics.source}",
            "unique_id": f"{topics.node}_unknown",
            "state_topic": topics.unknown,
            "json_attributes_topic": topics.unknown,
            "value_template": "{{ value_json.state }}",
            "payload_on": "ON",
            "payload_off": "OFF",
            "off_delay": UNKNOWN_OFF_DELAY,
            "icon": "mdi:account-question",
        }
    }
    for person in people:
        slug = person_slug(person)
        configs[topics.person_config(slug)] = {
            **common,
            "name": f"{person.replace('_', ' ')} last seen",
            "unique_id": f"{topics.node}_person_{slug}",
            "state_topic": topics.person(slug),
            "json_attributes_topic": topics.person(slug),
            "value_template": "{{ value_json.time }}",
            "device_class": "timestamp",
            "icon": "mdi:face-recognition",
        }
    return configs


def messages(topics: Topics, event: dict) -> list[tuple[str, str, bool]]:
    """What an event becomes on the broker: (topic, payload, retained)."""
    kind = event["type"]
    found = [(topics.event(kind), json.dumps(event, ensure_ascii=False), kind == "model")]
    if kind != "recognition":
        return found
    best: dict[str, float] = {}
    for face in event.get("faces", []):
        if face["name"] != UNKNOWN:
            best[face["name"]] = max(best.get(face["name"], 0.0), float(face["confidence"]))
    for person, confidence in best.items():
        state = {"time": event["time"], "confidence": confidence, "model_version": event.get("model_version")}
        found.append((topics.person(person_slug(person)), json.dumps(state), True))
    unknown = sum(face["name"] == UNKNOWN for face in event.get("faces", []))
    state = {"state": "ON" if unknown else "OFF", "time": event["time"], "unknown_faces": unknown}
    found.append((topics.unknown, json.dumps(state), True))
    return found


class MqttSink(Sink):
    """Publishes events to the broker of FACEOPS_MQTT_URL through paho-mqtt, which reconnects by itself."""

    def __init__(
        self, settings: EventSettings, count: Count = no_count, bound: int = QUEUE_BOUND, grace: float = CONNECT_GRACE
    ) -> None:
        super().__init__("mqtt", count, bound)
        self.settings, self.grace = settings, grace
        self.topics = Topics(settings.source)
        self.configs: dict[str, dict] | None = None  # the discovery messages of the people announced last
        self.connected = threading.Event()
        self._seen: set[str] = set()  # retained person sensors found on the broker before anyone was announced
        self._lock = threading.Lock()
        self._started = 0.0
        self.client = None

    def start(self) -> None:
        import paho.mqtt.client as mqtt

        parts = urlsplit(self.settings.mqtt_url)
        tls = parts.scheme == "mqtts"
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"faceops-{self.settings.source}-{secrets.token_hex(3)}"
        )
        if self.settings.mqtt_user:
            client.username_pw_set(self.settings.mqtt_user, self.settings.mqtt_password or None)
        if tls:
            client.tls_set()
        client.will_set(self.topics.status, NOT_AVAILABLE, qos=1, retain=True)
        client.max_queued_messages_set(100)
        client.reconnect_delay_set(1, 30)
        client.on_connect, client.on_disconnect, client.on_message = self._connected, self._disconnected, self._swept
        client.connect_async(parts.hostname, parts.port or (8883 if tls else 1883), keepalive=30)
        self.client, self._started = client, time.monotonic()
        client.loop_start()
        super().start()

    def _connected(self, client, userdata, flags, reason, properties) -> None:  # noqa: ANN001 - paho's callback
        if reason.is_failure:
            log.warning("events to mqtt: the broker refused the connection (%s)", reason)
            return
        client.publish(self.topics.status, AVAILABLE, qos=1, retain=True)
        with self._lock:  # with announce's: the people announced meanwhile are published by one or the other
            self.connected.set()
            configs = dict(self.configs or {})
        for topic, config in configs.items():
            client.publish(topic, json.dumps(config, ensure_ascii=False), qos=1, retain=True)
        client.subscribe(self.topics.person_configs, qos=1)
        log.info("events to mqtt: connected to %s as source %s", self.settings.mqtt_url, self.settings.source)

    def _disconnected(self, client, userdata, flags, reason, properties) -> None:  # noqa: ANN001 - paho's callback
        self.connected.clear()

    def _swept(self, client, userdata, message) -> None:  # noqa: ANN001 - paho's callback
        """A retained person sensor of this source on the broker, of someone not announced now: removed."""
        object_id = message.topic.split("/")[-2]
        if not message.retain or not message.payload or not object_id.startswith("person_"):
            return
        with self._lock:
            if self.configs is None:  # nobody announced yet: announce removes it if need be
                self._seen.add(message.topic)
                return
            if message.topic in self.configs:
                return
        self._remove(object_id[len("person_") :])

    def _remove(self, slug: str) -> None:
        self.client.publish(self.topics.person_config(slug), b"", qos=1, retain=True)
        self.client.publish(self.topics.person(slug), b"", qos=1, retain=True)

    def announce(self, people: Sequence[str]) -> None:
        """Describe the people to Home Assistant (now, or on connecting); remove those no longer among them."""
        configs = discovery(self.topics, people)
        with self._lock:
            gone = (set(self.configs or {}) | self._seen) - set(configs)
            self.configs, self._seen = configs, set()
            connected = self.client is not None and self.connected.is_set()
        if not connected:
            return  # published on connecting; stale ones are swept then
        for topic, config in configs.items():
            self.client.publish(topic, json.dumps(config, ensure_ascii=False), qos=1, retain=True)
        for topic in gone:
            self._remove(topic.split("/")[-2][len("person_") :])

    def deliver(self, event: dict) -> None:
        if not self.connected.is_set():
            wait = self._started + self.grace - time.monotonic()
            if wait <= 0 or not self.connected.wait(wait):
                raise DeliveryError(f"not connected to the broker {self.settings.mqtt_url}")
        for topic, payload, retain in messages(self.topics, event):
            info = self.client.publish(topic, payload, qos=0, retain=retain)
            if info.rc != 0:
                raise DeliveryError(f"the broker {self.settings.mqtt_url}: publish failed (code {info.rc})")

    def close(self, timeout: float) -> None:
        """Deliver what is queued, say `offline` (retained) and disconnect."""
        super().close(timeout)
        if self.client is None:
            return
        if self.connected.is_set():
            with contextlib.suppress(RuntimeError, ValueError):  # disconnected meanwhile: the last will says it
                self.client.publish(self.topics.status, NOT_AVAILABLE, qos=1, retain=True).wait_for_publish(1.0)
        self.client.disconnect()
        self.client.loop_stop()
