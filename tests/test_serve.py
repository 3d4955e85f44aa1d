"""The web service for real: `faceops serve` on 127.0.0.1 with a dlib model trained here on LFW faces."""

import io
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import free_port, make_project, sh, tool_env
from PIL import Image

pytestmark = pytest.mark.slow


SERVERS = {}  # url -> pid of `faceops serve`


def server_pid(url: str) -> int:
    return SERVERS[url]


@pytest.fixture(scope="module")
def server(tmp_path_factory, lfw):
    path = make_project(tmp_path_factory.mktemp("serve") / "repo", lfw, train={"backbone": "dlib_resnet", "epochs": 30})
    sh("dvc", "repro", cwd=path)
    port = free_port()
    process = subprocess.Popen(
        ["faceops", "serve", "--port", str(port)],
        cwd=path,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None:
                pytest.fail(f"faceops serve exited: {process.stdout.read()}")
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("faceops serve did not start within 120 s")
    meta = json.loads((path / "models/model.json").read_text())
    SERVERS[url] = process.pid
    yield url, path, meta
    process.terminate()
    process.wait(timeout=20)


def post(url: str, data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg") -> tuple[int, dict]:
    boundary = "faceopsboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url + "/predict",
        data=body,
        method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_known_face_is_named(server, lfw):
    url, _, meta = server
    person = meta["labels"][0]
    photo = sorted((lfw / person).iterdir())[-1]  # not one of the imported 20
    status, answer = post(url, photo.read_bytes())
    assert status == 200
    assert answer["width"] == 250 and answer["model_version"]
    assert answer["faces"][0]["name"] == person and answer["faces"][0]["confidence"] > 0.5


def test_stranger_is_unknown(server, lfw):
    url, _, _ = server
    status, answer = post(url, (lfw / "Serena_Williams" / "Serena_Williams_0001.jpg").read_bytes())
    assert status == 200 and answer["faces"][0]["name"] == "unknown"


def test_no_face_is_an_empty_list(server):
    url, _, _ = server
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (90, 120, 150)).save(buffer, "PNG")
    status, answer = post(url, buffer.getvalue(), "wall.png", "image/png")
    assert status == 200 and answer["faces"] == [] and (answer["width"], answer["height"]) == (300, 200)


@pytest.mark.parametrize(
    "name, data, status, message",
    [
        ("text", b"hello, I am not a photo", 415, "not a JPEG, PNG, WebP or BMP image"),
        ("empty", b"", 400, "empty file"),
        ("truncated", None, 400, "corrupt or truncated image"),
        ("huge", None, 413, "pixels, more than the 50,000,000 allowed"),
    ],
)
def test_bad_uploads_get_4xx_with_a_message(server, lfw, name, data, status, message):
    url, _, _ = server
    if name == "truncated":
        whole = (lfw / "Tony_Blair" / "Tony_Blair_0002.jpg").read_bytes()
        data = whole[: len(whole) // 2]
    if name == "huge":
        buffer = io.BytesIO()
        Image.new("1", (8000, 8000)).save(buffer, "PNG")  # 64 megapixels in a few kB
        data = buffer.getvalue()
    code, answer = post(url, data)
    assert code == status
    assert message in answer["detail"]


def test_oversized_upload_and_missing_field(server):
    url, _, _ = server
    code, answer = post(url, b"\xff" * (10 * 1024 * 1024 + 10))
    assert code == 413 and answer["detail"] == "upload is larger than 10 MiB"
    request = urllib.request.Request(
        url + "/predict", data=b"a=b", method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 415


def test_model_and_health(server):
    url, _, meta = server
    info = json.loads(urllib.request.urlopen(url + "/model").read())
    assert info["labels"] == meta["labels"] and info["backbone"] == "dlib_resnet"
    assert info["metrics"]["accuracy"] >= 0.9
    assert json.loads(urllib.request.urlopen(url + "/health").read())["status"] == "ok"


def test_200_requests_from_8_clients(server, lfw):
    url, _, meta = server
    photos = [sorted((lfw / person).iterdir())[-1].read_bytes() for person in meta["labels"]]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: post(url, photos[i % len(photos)]), range(200)))
    assert [status for status, _ in results] == [200] * 200
    assert all(answer["faces"] for _, answer in results)


def test_web_page_names_an_uploaded_photo(server, lfw, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is needed for the browser test: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    url, _, meta = server
    person = meta["labels"][-1]
    photo = sorted((lfw / person).iterdir())[-1]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('model').textContent.startsWith('Knows')")
        page.set_input_files("#photo", str(photo))
        page.wait_for_selector("#results li.face", timeout=60_000)
        names = page.eval_on_selector_all("#results li.face", "items => items.map(i => i.dataset.name)")
        page.screenshot(path=str(tmp_path / "page.png"))
        browser.close()
    assert names[0] == person
    assert os.path.getsize(tmp_path / "page.png") > 10_000


def test_model_is_reloaded_when_a_new_one_is_promoted(server):
    url, path, _ = server
    before = json.loads(urllib.request.urlopen(url + "/health").read())["model_version"]
    sh("dvc", "exp", "run", "-S", "train.epochs=31", cwd=path)  # promotes a new model.keras / model.json
    after = json.loads(urllib.request.urlopen(url + "/model").read())["version"]
    assert after != before


def _process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *[p for child in children for p in _process_tree(int(child))]]


def test_dlib_model_is_served_and_predicted_without_tensorflow(server, lfw):
    url, path, meta = server
    post(url, sorted((lfw / meta["labels"][0]).iterdir())[-1].read_bytes())  # every worker has loaded the model
    processes = _process_tree(server_pid(url))
    assert len(processes) >= 2  # the web process and its prediction workers
    for pid in processes:
        assert "tensorflow" not in Path(f"/proc/{pid}/maps").read_text(), f"process {pid} loaded TensorFlow"
    photo = sorted((lfw / meta["labels"][0]).iterdir())[-1]
    check = (
        "import sys; from faceops.cli import main; code = main(['predict', '--json', sys.argv[1]]); "
        "print('tensorflow' in sys.modules, file=sys.stderr); sys.exit(code)"
    )
    result = sh("python", "-c", check, str(photo), cwd=path)
    assert json.loads(result.stdout)[0]["faces"][0]["name"] == meta["labels"][0]
    assert result.stderr.strip().splitlines()[-1] == "False"


def test_health_answers_while_large_photos_are_processed(server, lfw):
    url, _, meta = server
    photo = sorted((lfw / meta["labels"][0]).iterdir())[-1]
    big = io.BytesIO()
    Image.open(photo).resize((4000, 4000)).save(big, format="JPEG", quality=90)
    finished = []

    def upload(i):
        status, _ = post(url, big.getvalue())
        finished.append(("predict", status))

    with ThreadPoolExecutor(3) as pool:
        uploads = [pool.submit(upload, i) for i in range(3)]
        time.sleep(0.5)  # the uploads have arrived and are being processed
        health = json.loads(urllib.request.urlopen(url + "/health", timeout=60).read())
        finished.append(("health", health["status"]))
        for future in uploads:
            future.result()
    assert finished[0] == ("health", "ok"), finished  # not queued behind the photos
    assert sorted(finished[1:]) == [("predict", 200)] * 3


def test_a_model_that_does_not_load_leaves_the_last_good_one_serving(server, lfw):
    url, path, meta = server
    model, card = path / "models/model.keras", path / "models/model.json"
    good = {model: model.read_bytes(), card: card.read_bytes()}
    before = json.loads(urllib.request.urlopen(url + "/health").read())
    photo = sorted((lfw / meta["labels"][0]).iterdir())[-1].read_bytes()
    try:
        model.write_bytes(good[model][: len(good[model]) // 3])  # a truncated model file
        health = json.loads(urllib.request.urlopen(url + "/health").read())
        assert health["status"] == "degraded" and health["model_version"] == before["model_version"]
        assert "model.keras: cannot load the model" in health["reason"]
        status, answer = post(url, photo)
        assert status == 200 and answer["faces"][0]["name"] == meta["labels"][0]
        assert answer["model_version"] == before["model_version"]
        info = json.loads(urllib.request.urlopen(url + "/model").read())
        assert info["status"] == "degraded" and info["version"] == before["model_version"]
        cli = sh("faceops", "predict", "x.jpg", cwd=path, check=False)
        assert cli.returncode == 1 and "models/model.keras: cannot load the model, the file is damaged" in cli.stderr

        model.write_bytes(good[model])
        card.write_text("{}")  # a card of nothing
        health = json.loads(urllib.request.urlopen(url + "/health").read())
        assert health["status"] == "degraded" and "model.json: not a model card" in health["reason"]
        cli = sh("faceops", "predict", "x.jpg", cwd=path, check=False)
        assert cli.returncode == 1 and "models/model.json: not a model card" in cli.stderr
    finally:
        for file, data in good.items():
            file.write_bytes(data)
    assert json.loads(urllib.request.urlopen(url + "/health").read()) == before
