"""Benchmark what events cost a prediction: POST /predict latency with events off, and with a broker (and a
webhook endpoint) that is down, on 127.0.0.1 only.

    python bench/events.py [--project DIR] [--people 4] [--requests 100] [--json]

Without --project it first trains its own small project (dlib backbone, as bench/serve.py does). It starts one
`faceops serve` (one worker) per setting, warms them up, sends --requests photos one after another from one client
to each in turn (so that a busy machine weighs on every setting alike), then reads /metrics for the events each
service counted (failed, dropped). It also times the publishing call itself
in this process (both sinks down), which a loaded machine's noise does not hide. With --json the last stdout line
is one JSON object: per setting, p50_ms, p95_ms, mean_ms and the events counted; publish_us.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve import REPO, free_port, post, train_project  # noqa: E402 - bench/serve.py, beside this script

SECRET = "bench-webhook-secret-0123456789"


def settings() -> dict[str, dict[str, str]]:
    """The settings compared: events off, the broker down, the broker and a webhook endpoint down."""
    mqtt_down = {"FACEOPS_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}", "FACEOPS_EVENT_SOURCE": "bench"}
    webhook_down = {"FACEOPS_WEBHOOK_URLS": f"http://127.0.0.1:{free_port()}/hook", "FACEOPS_WEBHOOK_SECRET": SECRET}
    return {"events off": {}, "MQTT broker down": mqtt_down, "broker and webhook down": mqtt_down | webhook_down}


def events_counted(url: str) -> dict[str, int]:
    """faceops_events_total by outcome, summed over the sinks, from /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    counted: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "faceops_events_total":
                counted[sample.labels["outcome"]] = counted.get(sample.labels["outcome"], 0) + int(sample.value)
    return counted


def start(project: Path, env: dict) -> tuple[subprocess.Popen, str]:
    """`faceops serve` with one worker and `env`, once /health answers."""
    port = free_port()
    command = ["faceops", "serve", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    return server, url


def measure(project: Path, envs: dict[str, dict], photos: list[bytes], requests: int) -> dict[str, dict]:
    """Latencies of `requests` sequential predictions per setting, the settings' servers asked in turn (a photo to
    each, then the next photo), so that what else the machine does weighs on all of them alike."""
    servers = {name: start(project, env) for name, env in envs.items()}
    latencies: dict[str, list[float]] = {name: [] for name in envs}
    try:
        for _, url in servers.values():
            for photo in photos[:4]:
                post(url + "/predict", photo)  # warm up
        time.sleep(4)  # past the broker's start-up grace: every event now meets a broker that is down
        for number in range(requests):
            for name, (_, url) in servers.items():
                latencies[name].append(post(url + "/predict", photos[number % len(photos)]))
        time.sleep(1)
        counted = {name: events_counted(url) for name, (_, url) in servers.items()}
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=30)
    return {name: summary(sorted(latencies[name]), counted[name]) for name in envs}


def summary(latencies: list[float], counted: dict[str, int]) -> dict:
    return {
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p95_ms": round(1000 * latencies[int(0.95 * len(latencies)) - 1], 1),
        "mean_ms": round(1000 * statistics.mean(latencies), 1),
        "events": counted,
    }


def publish_cost(calls: int = 20000) -> float:
    """Microseconds one EventPublisher.publish takes with the broker and a webhook endpoint down (queues full)."""
    sys.path.insert(0, str(REPO))
    from faceops.records.events import EventPublisher, EventSettings

    down = settings()["broker and webhook down"]
    found = EventSettings.from_environment(down)
    publisher = EventPublisher.from_settings(found)
    publisher.start()
    face = {"name": "Tony_Blair", "confidence": 0.9, "distance": 0.3, "box": {"x": 1, "y": 2, "width": 3, "height": 4}}
    started = time.perf_counter()
    for _ in range(calls):
        publisher.publish("recognition", model_version="v1", faces=[face], named=["Tony_Blair"], unknown=0)
    cost = (time.perf_counter() - started) / calls * 1e6
    publisher.close(timeout=0.5)
    return round(cost, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", help="folder with models/model.keras (after dvc repro); default: train one")
    parser.add_argument("--people", type=int, default=4, help="people in the project trained without --project")
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/lfw-people-20"))
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    args = parser.parse_args()

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    for name in [name for name in env if name.startswith(("FACEOPS_MQTT", "FACEOPS_WEBHOOK", "FACEOPS_API_KEYS"))]:
        del env[name]  # this machine's own settings would change what is measured
    project = Path(args.project).resolve() if args.project else train_project(Path(args.data), args.people, env)
    labels = json.loads((project / "models/model.json").read_text())["labels"]
    photos = [sorted((Path(args.data) / person).iterdir())[-1].read_bytes() for person in labels]
    results = measure(project, {name: env | extra for name, extra in settings().items()}, photos, args.requests)

    publish_us = publish_cost()
    base = results["events off"]["p50_ms"]
    print(f"{len(labels)} people, dlib; {args.requests} POST /predict per row, in turn, one worker each, 127.0.0.1")
    print("| events | p50 | p95 | mean | p50 vs off | events counted |")
    print("|---|---|---|---|---|---|")
    for name, result in results.items():
        counted = ", ".join(f"{outcome} {count}" for outcome, count in sorted(result["events"].items()) if count)
        print(
            f"| {name} | {result['p50_ms']} ms | {result['p95_ms']} ms | {result['mean_ms']} ms | "
            f"{result['p50_ms'] / base:.2f}x | {counted or '-'} |"
        )
    print(f"one publish call, broker and webhook down (in process, 2 sinks): {publish_us} µs")
    if args.json:
        print(
            json.dumps(
                {"requests": args.requests, "people": len(labels), "settings": results, "publish_us": publish_us}
            )
        )


if __name__ == "__main__":
    main()
