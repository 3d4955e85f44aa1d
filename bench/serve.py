"""Benchmark the web service and the CLI on a trained model.

    python bench/serve.py --project DIR [--requests 400] [--clients 8]

Starts `faceops serve` on 127.0.0.1 in DIR (which holds models/model.keras from `dvc repro`), sends
--requests POST /predict requests of real LFW photos from --clients concurrent clients, and prints
requests per second with p50/p95 latency; then times `faceops predict PHOTO` end to end (model load
included) and a single prediction inside a warm process.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", required=True, help="folder with models/model.keras (after dvc repro)")
    parser.add_argument("--data", default=str(REPO.parent / "shared/datasets/lfw-people-20"))
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    project = Path(args.project).resolve()
    labels = json.loads((project / "models/model.json").read_text())["labels"]
    photos = [sorted((Path(args.data) / person).iterdir())[-1].read_bytes() for person in labels]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    port = free_port()
    server = subprocess.Popen(
        ["faceops", "serve", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url + "/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        post(url + "/predict", photos[0])  # warm up
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            latencies = sorted(
                pool.map(lambda i: post(url + "/predict", photos[i % len(photos)]), range(args.requests))
            )
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    backbone = json.loads((project / "models/model.json").read_text())["backbone"]
    print(f"model: {backbone}, {len(labels)} people; {os.cpu_count()} CPUs; 250x250 JPEG photos, one face each")
    print(
        f"POST /predict: {args.requests} requests from {args.clients} clients in {elapsed:.1f} s: "
        f"{args.requests / elapsed:.1f} requests/s, p50 {1000 * statistics.median(latencies):.0f} ms, "
        f"p95 {1000 * latencies[int(0.95 * len(latencies)) - 1]:.0f} ms"
    )

    photo = project / ".bench-photo.jpg"
    photo.write_bytes(photos[0])
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(["faceops", "predict", str(photo)], cwd=project, env=env, check=True, capture_output=True)
        runs.append(time.perf_counter() - started)
    photo.unlink()
    print(f"faceops predict PHOTO (process start and model load included): median {statistics.median(runs):.1f} s of 3")

    sys.path.insert(0, str(REPO))
    from faceops.images import decode_image
    from faceops.model import Recogniser
    from faceops.predict import FacePredictor

    predictor = FacePredictor(Recogniser.load(project / "models/model.keras"))
    rgb = decode_image(photos[0], "photo")
    predictor.predict(rgb)
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        predictor.predict(rgb)
        timings.append(time.perf_counter() - started)
    print(
        f"one photo in a warm process (detect + {backbone} + head): "
        f"median {1000 * statistics.median(timings):.0f} ms of 20"
    )


if __name__ == "__main__":
    main()
