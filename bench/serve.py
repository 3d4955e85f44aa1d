"""Benchmark the web service and the CLI on a trained model, on 127.0.0.1 only.

    python bench/serve.py [--project DIR] [--people 8] [--clients 8] [--requests 200] [--json]

Without --project it first trains its own small project (dlib backbone, --people people of LFW,
20 photos each). Then it starts `faceops serve`, sends --requests POST /predict requests of real LFW
photos from one client and then from --clients concurrent clients (while a further client polls
/health), times `faceops predict PHOTO` end to end (process start and model load included) and one
prediction inside a warm process. With --json the last stdout line is one JSON object: rps,
single_client_rps, p50_ms, single_client_p50_ms, warm_ms, health_max_ms, predict_cold_s, workers, cpus.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url: str, data: bytes) -> float:
    boundary = "benchboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        json.loads(response.read())
    return time.perf_counter() - started


def load(url: str, photos: list[bytes], clients: int, requests: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(pool.map(lambda i: post(url + "/predict", photos[i % len(photos)]), range(requests)))
    return time.perf_counter() - started, latencies


def train_project(data: Path, people: int, env: dict) -> Path:
    project = Path(tempfile.mkdtemp(prefix="faceops-bench-serve-"))
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, project / name)
    for folder in ("stages", "faceops"):
        shutil.copytree(REPO / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["backbone"] = "dlib_resnet"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["faceops", "import-folder", str(data), "--max-people", str(people), "--max-images", "20"],
        ["dvc", "add", "-q", "dataset/raw"],
        ["dvc", "repro"],
    ):
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{(result.stderr + result.stdout)[-3000:]}")
    if not (project / "models/model.keras").exists():
        sys.exit(f"the release gate refused the model trained in {project}; see reports/gate.json there")
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", help="folder with models/model.keras (after dvc repro); default: train one")
    parser.add_argument(
        "--people", type=int, default=8, help="people in the project trained when --project is not given"
    )
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/lfw-people-20"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, help="faceops serve --workers (default: one per core)")
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object")
    args = parser.parse_args()

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    project = Path(args.project).resolve() if args.project else train_project(Path(args.data), args.people, env)
    card = json.loads((project / "models/model.json").read_text())
    photos = [sorted((Path(args.data) / person).iterdir())[-1].read_bytes() for person in card["labels"]]
    service = measure_service(project, photos, args, env)
    sys.path.insert(0, str(REPO))
    from faceops.core.parallel import worker_count

    result = {
        "backbone": card["backbone"],
        "people": len(card["labels"]),
        "cpus": len(os.sched_getaffinity(0)),
        "workers": args.workers or worker_count(),
        "clients": args.clients,
        "requests": args.requests,
        **service,
        "warm_ms": round(1000 * warm_predict_seconds(project, photos[0]), 1),
        "predict_cold_s": round(cold_predict_seconds(project, photos[0], env), 2),
    }
    print_table(result)
    if args.json:
        print(json.dumps(result))


def measure_service(project: Path, photos: list[bytes], args: argparse.Namespace, env: dict) -> dict:
    """`faceops serve` under one client, then under `args.clients` while /health is polled."""
    port = free_port()
    serve = ["faceops", "serve", "--port", str(port)] + (["--workers", str(args.workers)] if args.workers else [])
    server = subprocess.Popen(serve, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    health: list[float] = []
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        for photo in photos[:4]:
            post(url + "/predict", photo)  # warm up
        single_elapsed, single = load(url, photos, 1, args.requests)
        stop = threading.Event()

        def poll_health() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                urllib.request.urlopen(url + "/health", timeout=60).read()
                health.append(time.perf_counter() - started)
                time.sleep(0.05)

        poller = threading.Thread(target=poll_health)
        poller.start()
        try:
            elapsed, latencies = load(url, photos, args.clients, args.requests)
        finally:
            stop.set()
            poller.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "rps": round(args.requests / elapsed, 1),
        "single_client_rps": round(args.requests / single_elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p95_ms": round(1000 * latencies[int(0.95 * len(latencies)) - 1], 1),
        "single_client_p50_ms": round(1000 * statistics.median(single), 1),
        "health_max_ms": round(1000 * max(health), 1) if health else None,
    }


def cold_predict_seconds(project: Path, photo_bytes: bytes, env: dict) -> float:
    """`faceops predict PHOTO` as a new process each time: median of 3."""
    photo = project / ".bench-photo.jpg"
    photo.write_bytes(photo_bytes)
    runs = []
    try:
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(["faceops", "predict", str(photo)], cwd=project, env=env, check=True, capture_output=True)
            runs.append(time.perf_counter() - started)
    finally:
        photo.unlink()
    return statistics.median(runs)


def warm_predict_seconds(project: Path, photo_bytes: bytes) -> float:
    """One photo (decode, detect, backbone, head) in a process that has the model loaded: median of 20."""
    sys.path.insert(0, str(REPO))
    from faceops.data.images import decode_image
    from faceops.model.predict import FacePredictor
    from faceops.model.recogniser import Recogniser

    predictor = FacePredictor(Recogniser.load(project / "models/model.keras"))
    predictor.predict(decode_image(photo_bytes, "photo"))
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        predictor.predict(decode_image(photo_bytes, "photo"))
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def print_table(result: dict) -> None:
    clients, requests, backbone = result["clients"], result["requests"], result["backbone"]
    print(f"model: {backbone}, {result['people']} people; {result['cpus']} CPUs; 250x250 JPEG photos, one face each")
    print("| measure | value |")
    print("|---|---|")
    single = f"{result['single_client_rps']} req/s, p50 {result['single_client_p50_ms']} ms"
    print(f"| 1 client, {requests} requests | {single} |")
    print(
        f"| {clients} clients, {requests} requests | {result['rps']} req/s, "
        f"p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms |"
    )
    print(f"| throughput ratio ({clients} clients / 1) | {result['rps'] / result['single_client_rps']:.2f} |")
    print(f"| one photo in a warm process (decode, detect, {backbone}, head) | {result['warm_ms']} ms |")
    print(f"| single-client p50 / warm | {result['single_client_p50_ms'] / result['warm_ms']:.2f} |")
    print(f"| slowest /health during the {clients}-client load | {result['health_max_ms']} ms |")
    print(f"| `faceops predict PHOTO`, cold (median of 3) | {result['predict_cold_s']} s |")


if __name__ == "__main__":
    main()
