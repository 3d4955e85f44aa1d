"""Events: what the service tells other systems (an MQTT broker, webhooks) as it answers, without waiting for them.

Why here, among the records: like the recognition log, an event is something the service keeps a trace of, and
code of any layer above (release, people, service) may publish one. Each sink (the broker, each webhook URL) has
its own bounded queue and thread: `publish` only puts the event on the queues, so a broker or endpoint that is down
or slow never delays or fails an answer. A sink that fails is logged once per outage; every event is counted
(`count(sink, outcome)`: sent, failed, or dropped when the queue is full), which /metrics shows.

Who is named is the caller's business: the service masks forgotten people before it publishes anything.
Settings come from the environment only (secrets included): FACEOPS_MQTT_URL, FACEOPS_MQTT_USER,
FACEOPS_MQTT_PASSWORD, FACEOPS_WEBHOOK_URLS, FACEOPS_WEBHOOK_SECRET, FACEOPS_EVENT_SOURCE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib.util
import json
import logging
import os
import queue
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from faceops.core.errors import FaceopsError

log = logging.getLogger(__name__)

MQTT_URL_VARIABLE = "FACEOPS_MQTT_URL"
MQTT_USER_VARIABLE = "FACEOPS_MQTT_USER"
MQTT_PASSWORD_VARIABLE = "FACEOPS_MQTT_PASSWORD"
WEBHOOK_URLS_VARIABLE = "FACEOPS_WEBHOOK_URLS"
WEBHOOK_SECRET_VARIABLE = "FACEOPS_WEBHOOK_SECRET"
SOURCE_VARIABLE = "FACEOPS_EVENT_SOURCE"
SIGNATURE_HEADER = "X-Faceops-Signature"
SOURCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # an MQTT topic level and a Home Assistant node id
MIN_SECRET_LENGTH = 16
MAX_WEBHOOKS = 8
QUEUE_BOUND = 1000  # events waiting per sink; beyond it they are dropped and counted

Count = Callable[[str, str], None]  # (sink, outcome): outcome is "sent", "failed" or "dropped"


def no_count(sink: str, outcome: str) -> None:
    return None


def default_source() -> str:
    """The host name as a topic level (letters, digits, _ and - only), or "faceops"."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname().split(".")[0]).strip("-")[:64]
    return name or "faceops"


def _shown(url: str) -> str:
    """A URL fit for a message: any user and password in it replaced by ***."""
    parts = urlsplit(url)
    return url.replace(parts.netloc, "***@" + parts.netloc.rsplit("@", 1)[1]) if "@" in parts.netloc else url


@dataclass(frozen=True)
class EventSettings:
    """Where events go. Empty: nowhere (the default)."""

    mqtt_url: str = ""
    mqtt_user: str = ""
    mqtt_password: str = field(default="", repr=False)
    webhook_urls: tuple[str, ...] = ()
    webhook_secret: str = field(default="", repr=False)
    source: str = field(default_factory=default_source)

    @property
    def enabled(self) -> bool:
        return bool(self.mqtt_url or self.webhook_urls)

    def describe(self) -> str:
        """One line for the service's log; never a secret."""
        if not self.enabled:
            return "events: off"
        where = [f"MQTT {_shown(self.mqtt_url)}"] if self.mqtt_url else []
        where += [f"{len(self.webhook_urls)} webhook(s)"] if self.webhook_urls else []
        return f"events as source {self.source!r}: {', '.join(where)}"

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> EventSettings:
        """The settings in the environment; a bad one is a FaceopsError naming the variable, the value (never a
        secret's) and what is allowed."""
        environ = os.environ if environ is None else environ
        get = lambda name: environ.get(name, "").strip()  # noqa: E731 - a short reader
        mqtt_url = _mqtt_url(get(MQTT_URL_VARIABLE))
        user, password = get(MQTT_USER_VARIABLE), environ.get(MQTT_PASSWORD_VARIABLE, "")
        if (user or password) and not mqtt_url:
            name = MQTT_USER_VARIABLE if user else MQTT_PASSWORD_VARIABLE
            raise FaceopsError(f"{name} is set but {MQTT_URL_VARIABLE} is not; allowed: set both, or neither")
        if password and not user:
            raise FaceopsError(f"{MQTT_PASSWORD_VARIABLE} is set without {MQTT_USER_VARIABLE}; allowed: set both")
        urls = _webhook_urls(get(WEBHOOK_URLS_VARIABLE))
        secret = environ.get(WEBHOOK_SECRET_VARIABLE, "")
        if urls and len(secret) < MIN_SECRET_LENGTH:
            raise FaceopsError(
                f"{WEBHOOK_SECRET_VARIABLE} has {len(secret)} characters (its value is a secret and not shown); "
                f"allowed: at least {MIN_SECRET_LENGTH}, as webhooks are signed with it "
                "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        source = get(SOURCE_VARIABLE) or default_source()
        if not SOURCE_PATTERN.fullmatch(source):
            raise FaceopsError(
                f"{SOURCE_VARIABLE}={source!r}: allowed: 1 to 64 letters, digits, _ or - (it is an MQTT topic level)"
            )
        return cls(mqtt_url, user, password, urls, secret, source)


def _mqtt_url(value: str) -> str:
    if not value:
        return ""
    allowed = "allowed: mqtt://HOST:PORT, or mqtts://HOST:PORT for TLS (port 1883 and 8883 when left out)"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise FaceopsError(f"{MQTT_URL_VARIABLE}={_shown(value)!r}: {allowed}") from None
    if "@" in parts.netloc:
        raise FaceopsError(
            f"{MQTT_URL_VARIABLE}={_shown(value)!r}: allowed: no user or password in the URL; "
            f"set {MQTT_USER_VARIABLE} and {MQTT_PASSWORD_VARIABLE}"
        )
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise FaceopsError(f"{MQTT_URL_VARIABLE}={value!r}: {allowed}")
    if importlib.util.find_spec("paho") is None:
        raise FaceopsError(f"{MQTT_URL_VARIABLE} is set but paho-mqtt is not installed: pip install 'faceops[serve]'")
    return value


def _webhook_urls(value: str) -> tuple[str, ...]:
    urls = tuple(url.strip() for url in value.split(",") if url.strip())
    if len(urls) > MAX_WEBHOOKS:
        raise FaceopsError(f"{WEBHOOK_URLS_VARIABLE} names {len(urls)} URLs; allowed: at most {MAX_WEBHOOKS}")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FaceopsError(
                f"{WEBHOOK_URLS_VARIABLE}: {_shown(url)!r}: allowed: http:// or https:// URLs, comma-separated"
            )
    return urls


def now_iso(seconds: float | None = None) -> str:
    """A time as ISO 8601 in UTC with its offset (Home Assistant's timestamp sensors need the offset)."""
    moment = dt.datetime.fromtimestamp(time.time() if seconds is None else seconds, dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds")


class DeliveryError(Exception):
    """A sink could not deliver an event for now (down, overloaded, timed out): worth another try."""


class RefusedError(Exception):
    """A sink refused an event (a 4xx): another try would not help."""


class Sink:
    """One destination: a bounded queue and a thread that delivers what is on it, counting each event."""

    def __init__(self, name: str, count: Count = no_count, bound: int = QUEUE_BOUND) -> None:
        self.name = name
        self.count = count
        self.queue: queue.Queue[dict] = queue.Queue(maxsize=bound)
        self.stopping = threading.Event()  # drain what is queued, then stop
        self.abandon = threading.Event()  # stop now: no more retries
        self.failing = False  # logged once per outage
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"faceops-events-{self.name}", daemon=True)
        self._thread.start()

    def offer(self, event: dict) -> None:
        """Queue the event; a full queue drops it (counted), never waits."""
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self.count(self.name, "dropped")

    def _run(self) -> None:
        while True:
            try:
                event = self.queue.get(timeout=0.2)
            except queue.Empty:
                if self.stopping.is_set():
                    return
                continue
            if self.abandon.is_set():
                continue
            try:
                self.deliver(event)
            except Exception as exc:  # any fault of the sink: counted and logged, never raised
                self.count(self.name, "failed")
                if not self.failing:
                    log.warning("events to %s fail (%s); counted as failed until it answers", self.name, exc)
                self.failing = True
                continue
            self.count(self.name, "sent")
            if self.failing:
                log.warning("events to %s are delivered again", self.name)
            self.failing = False

    def deliver(self, event: dict) -> None:
        raise NotImplementedError

    def announce(self, people: Sequence[str]) -> None:
        """The people a recognition may name (for sinks that describe them up front, such as Home Assistant's)."""

    def close(self, timeout: float) -> None:
        """Deliver what is queued within `timeout` seconds, then stop."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.abandon.set()


class WebhookSink(Sink):
    """POSTs each event's JSON to a URL, signed: `X-Faceops-Signature: sha256=HMAC-SHA256(secret, body)`; retried
    with backoff on a connection error, a timeout, 429 or 5xx."""

    def __init__(
        self,
        name: str,
        url: str,
        secret: str,
        count: Count = no_count,
        bound: int = QUEUE_BOUND,
        attempts: int = 3,
        backoff: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(name, count, bound)
        self.url, self.secret = url, secret.encode()
        self.attempts, self.backoff, self.timeout = attempts, backoff, timeout

    def deliver(self, event: dict) -> None:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        for attempt in range(self.attempts):
            try:
                self._post(body, event.get("type", ""))
                return
            except DeliveryError:
                if attempt + 1 == self.attempts or self.abandon.wait(self.backoff * 2**attempt):
                    raise

    def _post(self, body: bytes, kind: str) -> None:
        signature = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "faceops",
                "X-Faceops-Event": kind,
                SIGNATURE_HEADER: f"sha256={signature}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as error:
            if error.code == 429 or error.code >= 500:
                raise DeliveryError(f"{_shown(self.url)} answered {error.code}") from None
            raise RefusedError(f"{_shown(self.url)} refused the event with {error.code}") from None
        except (OSError, ValueError) as exc:  # refused, unreachable, timed out, a bad answer
            raise DeliveryError(f"{_shown(self.url)}: {getattr(exc, 'reason', None) or exc}") from None


def signature_of(secret: str, body: bytes) -> str:
    """The X-Faceops-Signature header a receiver should compare with (hmac.compare_digest)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class EventPublisher:
    """Publishes events to every configured sink; never blocks, never raises. Off (no sinks) by default."""

    def __init__(self, sinks: Sequence[Sink] = (), source: str = "faceops") -> None:
        self.sinks = list(sinks)
        self.source = source

    @classmethod
    def from_settings(
        cls, settings: EventSettings, count: Count = no_count, bound: int = QUEUE_BOUND
    ) -> EventPublisher:
        """The sinks the settings name (not started yet)."""
        sinks: list[Sink] = []
        if settings.mqtt_url:
            from faceops.records.mqtt import MqttSink

            sinks.append(MqttSink(settings, count, bound))
        for number, url in enumerate(settings.webhook_urls, start=1):
            sinks.append(WebhookSink(f"webhook-{number}", url, settings.webhook_secret, count, bound))
        return cls(sinks, settings.source)

    @property
    def enabled(self) -> bool:
        return bool(self.sinks)

    def start(self) -> None:
        for sink in self.sinks:
            sink.start()

    def publish(self, kind: str, **fields: object) -> None:
        """Queue the event `{"type": kind, "source": ..., "time": ..., **fields}` for every sink."""
        if not self.sinks:
            return
        event = {"type": kind, "source": self.source, "time": now_iso(), **fields}
        for sink in self.sinks:
            sink.offer(event)

    def announce(self, people: Sequence[str]) -> None:
        for sink in self.sinks:
            try:
                sink.announce(people)
            except Exception as exc:  # a sink's fault never reaches the caller
                log.warning("events to %s: could not announce the people (%s)", sink.name, exc)

    def queued(self) -> dict[str, int]:
        return {sink.name: sink.queue.qsize() for sink in self.sinks}

    def close(self, timeout: float = 2.0) -> None:
        """Deliver what is queued within `timeout` seconds in all, then stop."""
        deadline = time.monotonic() + timeout
        for sink in self.sinks:
            sink.close(max(0.0, deadline - time.monotonic()))
