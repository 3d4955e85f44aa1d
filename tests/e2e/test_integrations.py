"""Integrations for real: events to an MQTT broker (amqtt on 127.0.0.1) described for Home Assistant's discovery,
signed webhooks (an http.server receiver), and GET /metrics for Prometheus. Most tests drive the publisher and the
metrics directly (no model, fast); one starts `faceops serve` with a dlib model trained here (slow)."""

import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import make_project, sh, tool_env
from PIL import Image
from support.integrations import SECRET, _families, _value, check_discovery, wait_until
from support.serve import post, start_server, stop_server

from faceops.records.events import signature_of

PREDICT_KEY, METRICS_KEY, ADMIN_KEY = "predict-key-integ-0123456", "metrics-key-integ-0123456", "admin-key-integ-012345"


# ---- a real broker, a subscriber and a webhook receiver on 127.0.0.1 ----


# ---- Home Assistant's MQTT discovery schema: what it requires of a sensor and a binary sensor ----


# ---- settings ----


# ---- MQTT and Home Assistant ----


# ---- webhooks ----


# ---- /metrics ----


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
        status, _ = post(url, _blank_png(), "wall.png", "image/png", headers={"X-API-Key": PREDICT_KEY})
        assert status == 200
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
    # The webhook's fourth event is no sign that the broker has delivered MQTT's fourth: wait for that one.
    seen = listener.wait(lambda m: len(m.get("faceops/testdoor/recognition", [])) >= 4 and m)
    last = seen["faceops/testdoor/recognition"][3][0].decode()
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
