"""The web service for real: `faceops serve` on 127.0.0.1 with a dlib model trained here on LFW faces."""

import io
import json
import os
import select
import shutil
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import ACCESS_KEY, SECRET_KEY, make_project, sh, tool_env
from PIL import Image
from support.serve import ADMIN_KEY, PREDICT_KEY, SERVERS, _browser, _request, post, start_server, stop_server


def server_pid(url: str) -> int:
    return SERVERS[url]


@pytest.fixture(scope="module")
def project(tmp_path_factory, lfw):
    path = make_project(tmp_path_factory.mktemp("serve") / "repo", lfw, train={"backbone": "dlib_resnet", "epochs": 30})
    sh("dvc", "repro", cwd=path)
    return path


@pytest.fixture(scope="module")
def server_tmp(tmp_path_factory):
    """The TMPDIR of the module's server, to see what uploads write to disk."""
    return tmp_path_factory.mktemp("server-tmp")


@pytest.fixture(scope="module")
def server(project, server_tmp):
    process, url = start_server(project, env=tool_env() | {"TMPDIR": str(server_tmp)})
    meta = json.loads((project / "models/model.json").read_text())
    yield url, project, meta
    stop_server(process)


@pytest.fixture(scope="module")
def keyed_server(project):
    """The same model served with API keys (one predict, one admin) from the environment."""
    keys = f"predict:{PREDICT_KEY}, admin:{ADMIN_KEY}"
    process, url = start_server(project, env=tool_env() | {"FACEOPS_API_KEYS": keys})
    yield url, process
    stop_server(process)


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
        "import sys; from faceops.cli.main import main; code = main(['predict', '--json', sys.argv[1]]); "
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


# --- hardening: uploads, slow clients, Host, keys, offline docs, group photos ------------------------------


def _tree_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_a_200_mb_upload_is_refused_before_it_is_sent_and_nothing_is_spooled(server, server_tmp):
    """Chunked (no Content-Length), so only the cap while reading can stop it."""
    url, _, _ = server
    port = int(url.rsplit(":", 1)[1])
    before, largest = _tree_bytes(server_tmp), 0
    boundary = "faceopsboundary"
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'.encode()
    block = b"\xff" * (1024 * 1024)
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
        try:
            while sent < 200 * 1024 * 1024:
                connection.sendall(b"%x\r\n%s\r\n" % (len(block), block))
                sent += len(block)
                largest = max(largest, _tree_bytes(server_tmp) - before)
                if select.select([connection], [], [], 0)[0]:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while this client was still sending
        connection.settimeout(10)
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"upload is larger than 10 MiB" in answer
    assert sent < 40 * 1024 * 1024, f"{sent / 2**20:.0f} MiB sent before the answer"
    assert largest <= 10 * 1024 * 1024, f"the server's temp dir grew by {largest} bytes"


def test_a_client_sending_headers_slowly_is_cut_off_while_health_stays_fast(server):
    url, _, _ = server
    port = int(url.rsplit(":", 1)[1])
    slow = socket.create_connection(("127.0.0.1", port), timeout=2)
    started, closed_after, health_times = time.monotonic(), None, []
    try:
        headers = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {'a' * 40}\r\n"
        for byte in headers.encode():
            try:
                slow.sendall(bytes([byte]))
                if select.select([slow], [], [], 0)[0] and slow.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except (BrokenPipeError, ConnectionResetError):
                closed_after = time.monotonic() - started
                break
            begun = time.monotonic()
            assert _request(url, "/health")[0] == 200
            health_times.append(time.monotonic() - begun)
            if time.monotonic() - started > 25:
                break
            time.sleep(max(0.0, 1 - (time.monotonic() - begun)))
    finally:
        slow.close()
    assert closed_after is not None and closed_after < 20, f"still open after {time.monotonic() - started:.0f} s"
    assert max(health_times) < 1.0, health_times


def test_a_request_for_another_host_is_refused(server):
    url, _, _ = server
    status, answer = _request(url, "/health", headers={"Host": "evil.example:8000"})
    assert status == 400
    assert answer["detail"] == (
        "Host 'evil.example' is not allowed; start faceops serve with --allowed-host evil.example"
    )
    assert _request(url, "/health", headers={"Host": "localhost:8000"})[0] == 200


def test_api_keys_and_roles(keyed_server, lfw):
    url, process = keyed_server
    assert _request(url, "/health")[0] == 200 and _request(url, "/")[0] == 200  # no key needed
    status, answer = _request(url, "/model")
    assert status == 401 and answer["detail"].startswith("an API key is needed")
    assert _request(url, "/model", headers={"Authorization": "Bearer not-a-key-not-a-key"}) == (
        401,
        {"detail": "the API key is not valid"},
    )
    assert _request(url, "/docs")[0] == 200 and _request(url, "/openapi.json")[0] == 200  # no data; a browser opens it
    status, info = _request(url, "/model", headers={"Authorization": f"Bearer {PREDICT_KEY}"})
    assert status == 200 and info["labels"]
    photo = sorted((lfw / info["labels"][0]).iterdir())[-1].read_bytes()
    assert post(url, photo)[0] == 401
    status, answer = post(url, photo, headers={"X-API-Key": PREDICT_KEY})
    assert status == 200 and answer["faces"][0]["name"] == info["labels"][0]
    status, answer = _request(url, "/reload", "POST", headers={"Authorization": f"Bearer {PREDICT_KEY}"})
    assert status == 403 and answer["detail"] == "this key has the predict role; /reload needs admin"
    assert _request(url, "/reload", "POST", headers={"Authorization": f"Bearer {ADMIN_KEY}"})[0] == 200
    assert post(url, photo, headers={"Authorization": f"Bearer {ADMIN_KEY}"})[0] == 200  # admin may predict too
    output = process.log_path.read_text()
    assert "API keys: 2 (required)" in output
    assert PREDICT_KEY not in output and ADMIN_KEY not in output


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("FACEOPS_API_KEYS", "", "--host 0.0.0.0 would let anyone who can reach this machine use the service"),
        ("FACEOPS_API_KEYS", "boss:0123456789abcdef0123", "FACEOPS_API_KEYS: entry 1 does not start with a role"),
        ("FACEOPS_API_KEYS", "admin:short-secret", "the admin key of entry 1 has 12 characters; use at least 16"),
        ("FACEOPS_API_KEYS_FILE", "/nonexistent/keys", "FACEOPS_API_KEYS_FILE: cannot read /nonexistent/keys"),
    ],
)
def test_serve_refuses_unsafe_or_bad_key_settings_in_one_line(project, variable, value, message):
    result = sh("faceops", "serve", "--host", "0.0.0.0", cwd=project, check=False, env=tool_env() | {variable: value})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert message in line
    assert "short-secret" not in line and "0123456789abcdef0123" not in line


def test_docs_work_offline(server):
    """Every request the docs page makes goes to the service itself, and Swagger UI renders the API."""
    from playwright.sync_api import sync_playwright

    url, _, _ = server
    requested = []
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        page = browser.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.route(lambda target: not target.startswith(url), lambda route: route.abort())
        page.goto(url + "/docs")
        page.wait_for_selector("text=/predict", timeout=30_000)
        title = page.inner_text(".swagger-ui .info .title")
        browser.close()
    assert title.startswith("faceops")
    assert requested and all(address.startswith(url) for address in requested), requested


def test_the_page_asks_for_a_key_names_a_face_and_takes_feedback(keyed_server, project, lfw):
    """The page asks for a key; with a predict key it names a face; "Not NAME" then needs an admin key, and the
    verdict reaches the service's feedback store."""
    from playwright.sync_api import sync_playwright

    url, _ = keyed_server
    status, info = _request(url, "/model", headers={"X-API-Key": PREDICT_KEY})
    person = info["labels"][-1]
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_selector("#keyform:not([hidden])", timeout=30_000)
        page.fill("#key", PREDICT_KEY)
        page.click("#keyform button")
        page.wait_for_function("document.getElementById('model').textContent.startsWith('Knows')")
        page.set_input_files("#photo", str(sorted((lfw / person).iterdir())[-1]))
        page.wait_for_selector("#results li.face", timeout=60_000)
        names = page.eval_on_selector_all("#results li.face", "items => items.map(i => i.dataset.name)")
        shown = person.replace("_", " ")
        page.click(f"#results li.face button:has-text('Not {shown}')")
        page.wait_for_selector("#keyform:not([hidden])", timeout=30_000)
        refused = page.inner_text("#status")
        page.fill("#key", ADMIN_KEY)
        page.click("#keyform button")
        page.click(f"#results li.face button:has-text('Not {shown}')")
        page.wait_for_selector("#results li.face .said", timeout=30_000)
        thanks = page.inner_text("#results li.face .said")
        browser.close()
    assert names[0] == person
    assert refused.startswith("Feedback needs an admin key") and "admin" in refused
    assert thanks == f"Thanks: not {shown}"
    verdicts = [json.loads(path.read_text()) for path in (project / ".faceops/feedback").glob("*.json")]
    assert any(v["verdict"] == "not" and v["person"] == person for v in verdicts)


def group_photo(lfw: Path, people: list[str], columns: int = 5) -> bytes:
    """One JPEG of the central part of one photo per person, in a grid (LFW faces sit in the middle)."""
    import numpy as np

    tiles = [np.asarray(Image.open(sorted((lfw / p).iterdir())[0]).convert("RGB"))[40:210, 40:210] for p in people]
    rows = [np.concatenate(tiles[start : start + columns], axis=1) for start in range(0, len(tiles), columns)]
    buffer = io.BytesIO()
    Image.fromarray(np.concatenate(rows, axis=0)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_a_20_face_group_photo_gives_20_boxes_from_one_backbone_call(server, lfw):
    url, project, meta = server
    people = sorted(p.name for p in lfw.iterdir())[:20]
    photo = group_photo(lfw, people)
    status, answer = post(url, photo)
    assert status == 200
    tiles = sorted(
        ((f["box"]["y"] + f["box"]["height"] // 2) // 170, (f["box"]["x"] + f["box"]["width"] // 2) // 170)
        for f in answer["faces"]
    )
    assert tiles == [(row, column) for row in range(4) for column in range(5)]  # one box per face, none extra
    named = {(tile, face["name"]) for tile, face in zip(tiles, answer["faces"])}
    assert len(named) == 20

    from faceops.data.images import decode_image
    from faceops.model.predict import FacePredictor
    from faceops.model.recogniser import Recogniser

    recogniser = Recogniser.load(project / "models/model.keras")
    calls = []

    class CountingExtractor:  # a spy: the real extractor, counting its batched calls
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def __call__(self, inputs):
            calls.append(len(inputs))
            return self.real(inputs)

    recogniser.__dict__["extractor"] = CountingExtractor(recogniser.extractor)
    faces = FacePredictor(recogniser).predict(decode_image(photo, "group.jpg"))
    assert len(faces) == 20 and calls == [20]


def test_enrol_through_the_service_keeps_photos_for_the_next_retrain(keyed_server, project, lfw):
    url, _ = keyed_server
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    folder = project / "dataset/raw/Grace_Newcomer"
    photos = sorted((lfw / "Gerhard_Schroeder").iterdir())[-2:]  # a person the model does not know
    try:
        assert post(url, photos[0].read_bytes(), path="/people/Grace_Newcomer/photos")[0] == 401
        predict_only = {"X-API-Key": PREDICT_KEY}
        assert post(url, photos[0].read_bytes(), headers=predict_only, path="/people/Grace_Newcomer/photos")[0] == 403
        assert not folder.exists()

        status, answer = post(url, photos[0].read_bytes(), headers=admin, path="/people/Grace_Newcomer/photos")
        assert status == 201, answer
        assert answer["saved"].endswith("dataset/raw/Grace_Newcomer/Grace_Newcomer_0001.jpg")
        assert answer["photos_of_person"] == 1 and not answer["known_to_live_model"]
        assert "1 photos of Grace_Newcomer (a new person)" in answer["next_retrain"]
        status, answer = post(url, photos[1].read_bytes(), headers=admin, path="/people/Grace_Newcomer/photos")
        assert status == 201 and answer["photos_of_person"] == 2
        assert sorted(path.name for path in folder.iterdir()) == ["Grace_Newcomer_0001.jpg", "Grace_Newcomer_0002.jpg"]
        Image.open(folder / "Grace_Newcomer_0002.jpg").verify()

        # A photo without a face, and a name that cannot be a folder, are refused and nothing is kept.
        wall = io.BytesIO()
        Image.new("RGB", (250, 250), (127, 127, 127)).save(wall, "JPEG")
        status, answer = post(url, wall.getvalue(), headers=admin, path="/people/Grace_Newcomer/photos")
        assert status == 400 and answer["detail"] == "no face; nothing was saved"
        status, answer = post(url, photos[0].read_bytes(), headers=admin, path="/people/.hidden/photos")
        assert status == 400 and "is hidden" in answer["detail"]
        assert len(list(folder.iterdir())) == 2 and not (project / "dataset/raw/.hidden").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _feedback(url: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(
        url + "/feedback", data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_feedback_becomes_training_data_and_the_log_holds_no_image(server, lfw, tmp_path):
    url, project, meta = server
    person, other = meta["labels"][0], meta["labels"][1]
    photo = sorted((lfw / person).iterdir())[-1]
    status, answer = post(url, photo.read_bytes())
    [face] = answer["faces"]
    assert status == 200 and len(face["id"]) == 16
    assert (project / ".faceops/pending" / f"{face['id']}.jpg").exists()
    log = [json.loads(line) for line in (project / "logs/recognitions.jsonl").read_text().splitlines()]
    assert log[-1]["label"] == person and log[-1]["model"] == answer["model_version"]
    assert set(log[-1]) == {"time", "name", "label", "distance", "model"}  # no image, no photo name

    # Bad feedback: each a 4xx that says what is wrong; the crop still waits.
    assert _feedback(url, {"id": "0123456789abcdef", "person": person}) == (
        404,
        {"detail": "face 0123456789abcdef is unknown or expired (crops wait 60 minutes)"},
    )
    code, body = _feedback(url, {"id": face["id"], "person": "Nobody_Known"})
    assert code == 400 and "'Nobody_Known' is not a person of this model or data set" in body["detail"]
    code, body = _feedback(url, {"id": face["id"], "person": "../x"})
    assert code == 400 and "path separator" in body["detail"]
    code, body = _feedback(url, {"id": face["id"], "person": person, "not": other})
    assert code == 400 and "exactly one of" in body["detail"]
    code, body = _feedback(url, ["not", "an", "object"])
    assert code == 400 and body["detail"].startswith('send JSON {"id"')

    assert _feedback(url, {"id": face["id"], "person": person})[0] == 201
    assert _feedback(url, {"id": face["id"], "person": person})[0] == 404  # taken once
    status, second = post(url, sorted((lfw / other).iterdir())[-1].read_bytes())
    assert _feedback(url, {"id": second["faces"][0]["id"], "not": person})[0] == 201

    # Review in a copy of the project: accept both, commit, and the next repro trains on the correction.
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("serve-*.log"))
    ours = {face["id"], second["faces"][0]["id"]}
    for path in (copy / ".faceops/feedback").iterdir():  # other tests' verdicts on this module's server
        if path.stem not in ours:
            path.unlink()
    listed = sh("faceops", "feedback", "list", cwd=copy).stdout
    assert f"| {face['id']} | is {person} |" in listed and f"is not {person}" in listed and "2 waiting" in listed
    faces_before = (copy / "data/faces.csv").read_text().count(f",{person},")
    accepted = sh("faceops", "feedback", "accept", "--all", "--commit", cwd=copy).stdout
    assert "1 photos added to dataset/raw, 1 to dataset/raw/.negatives" in accepted
    assert "2 waiting" not in sh("faceops", "feedback", "list", cwd=copy).stdout
    assert len(list((copy / "dataset/raw/.negatives" / person).iterdir())) == 1
    assert sh("git", "status", "--porcelain", "dataset", cwd=copy).stdout == ""
    sh("dvc", "repro", "--quiet", cwd=copy)
    assert (copy / "data/faces.csv").read_text().count(f",{person},") == faces_before + 1
    assert ".negatives" not in (copy / "data/faces.csv").read_text()  # a rejection is no photo of anyone
    assert json.loads((copy / "metrics/train.json").read_text())["rejections"] == 1
    card = json.loads((copy / "models/candidate.json").read_text())
    assert card["open_set"]["rejections"] == 1


def test_monitor_flags_a_person_whose_faces_moved_away(server, lfw, tmp_path):
    """A log of another person's faces under a known name, distances from the real model: flagged. The faces the
    model answered "unknown" count because feedback confirmed them as that person (unconfirmed, they would be
    strangers, which never raise drift)."""
    import numpy as np

    from faceops.data.images import load_image
    from faceops.model.predict import FacePredictor
    from faceops.model.recogniser import Recogniser, centroid_distances
    from faceops.records.feedback import FaceRecord, FeedbackStore
    from faceops.records.store import FolderStore

    _, project, meta = server
    recogniser = Recogniser.load(project / "models/model.keras")
    detector = FacePredictor(recogniser).detector
    centroids = np.asarray(recogniser.card.open_set.centroids, dtype="float32")
    steady, drifting, impostor = meta["labels"][0], meta["labels"][1], meta["labels"][2]
    records, now, version = [], time.time(), recogniser.card.version
    for who, as_whom in ((steady, steady), (impostor, drifting)):
        for photo in sorted((lfw / who).iterdir())[:12]:
            rgb = load_image(photo)
            boxes = detector.detect(rgb)[:1]
            features = recogniser.extractor(recogniser.extractor.inputs_from_photo(rgb, boxes))
            distance = float(centroid_distances(features, centroids)[0, recogniser.labels.index(as_whom)])
            name = as_whom if distance <= recogniser.unknown_threshold else "unknown"
            records.append({"time": now, "name": name, "label": as_whom, "distance": distance, "model": version})
    log = tmp_path / "logs/recognitions.jsonl"
    log.parent.mkdir()
    log.write_text("".join(json.dumps(record) + "\n" for record in records) + "not json\n")
    feedback = FeedbackStore(FolderStore(tmp_path))
    for number, record in enumerate(r for r in records if r["name"] == "unknown"):
        confirmed = FaceRecord(f"f{number}", now, "unknown", drifting, record["distance"], version, "is", drifting)
        feedback.add(b"", confirmed)
    result = sh("faceops", "monitor", "--records", str(tmp_path), "--since", "1h", cwd=project, check=False)
    assert result.returncode == 3, result.stdout + result.stderr
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("| ")}
    assert rows[drifting].rstrip().endswith("| YES |") and rows[steady].rstrip().endswith("| no |")
    assert f"faceops capture --person {drifting}" in result.stdout
    assert f"faceops capture --person {steady}" not in result.stdout
    bad = sh("faceops", "monitor", "--records", str(tmp_path), "--since", "last week", cwd=project, check=False)
    assert bad.returncode == 1 and "--since 'last week': allowed: a duration such as 7d" in bad.stderr


def test_two_replicas_share_feedback_and_the_drift_log_through_a_bucket(project, s3, lfw):
    """Two service processes with their records in the DVC remote's bucket (a real S3-protocol server): a
    face answered by one gets its verdict through the other, and monitor reads both replicas' logs."""
    sh("dvc", "remote", "add", "--local", "--force", "shared", "s3://faces/replicas", cwd=project)
    sh("dvc", "remote", "modify", "--local", "shared", "endpointurl", s3, cwd=project)
    env = tool_env() | {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    place = "remote://shared/records"
    person = json.loads((project / "models/model.json").read_text())["labels"][0]
    photos = sorted((lfw / person).iterdir())[-2:]
    first, first_url = start_server(project, "--records", place, "--workers", "1", env=env)
    second, second_url = start_server(project, "--records", place, "--workers", "1", env=env)
    try:
        status, answer = post(first_url, photos[0].read_bytes())
        face_id = answer["faces"][0]["id"]
        assert status == 200 and not (project / ".faceops/pending" / f"{face_id}.jpg").exists()  # in the bucket
        assert _feedback(second_url, {"id": face_id, "person": person})[0] == 201  # kept by one, told to the other
        assert _feedback(first_url, {"id": face_id, "person": person})[0] == 404  # once, whichever replica
        assert post(second_url, photos[1].read_bytes())[0] == 200
    finally:
        logs = stop_server(first) + stop_server(second)  # SIGTERM: each writes the log lines it still holds
    assert "recognition log): remote://shared/records (s3://faces/replicas/records)" in logs
    listed = sh("faceops", "feedback", "list", "--records", place, cwd=project, env=env).stdout
    assert f"| {face_id} | is {person} |" in listed and f"s3://faces/replicas/records/feedback/{face_id}.jpg" in listed
    monitor = sh("faceops", "monitor", "--records", place, "--json", "--since", "1h", cwd=project, env=env)
    drift = json.loads(monitor.stdout)
    assert {row["person"]: row["faces"] for row in drift} == {person: 2}  # one face through each replica


def _versions(url: str) -> tuple[str, str]:
    """The model version a replica reports in GET /model and in GET /health."""
    model = json.loads(urllib.request.urlopen(url + "/model", timeout=30).read())["version"]
    health = json.loads(urllib.request.urlopen(url + "/health", timeout=30).read())["model_version"]
    return model, health


def test_two_replicas_on_one_bucket_agree_on_the_live_model_version(project, s3, lfw, tmp_path):
    """Two replicas with their records in one bucket, each watching its own model file: the project's, where a
    promotion writes, and a pod's copy of models/ (what the init container's `dvc get` fills). After a promotion
    and the copy of the new pair, both report the new version in /model and /health and answer with it."""
    from faceops.model.card import ModelCard

    sh("dvc", "remote", "add", "--local", "--force", "shared", "s3://faces/replicas", cwd=project)
    sh("dvc", "remote", "modify", "--local", "shared", "endpointurl", s3, cwd=project)
    env = tool_env() | {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    pod = tmp_path / "pod/models"
    pod.mkdir(parents=True)

    def roll_out() -> None:  # a pod's volume gets the revision's pair, each file whole (written, then renamed)
        for name in ("model.keras", "model.json"):
            shutil.copy2(project / "models" / name, pod / f".{name}.part")
            os.replace(pod / f".{name}.part", pod / name)

    roll_out()
    place = "remote://shared/versions"
    first, first_url = start_server(project, "--records", place, "--workers", "1", env=env)
    second, second_url = start_server(
        project, "--records", place, "--workers", "1", "--model", str(pod / "model.keras"), env=env
    )
    try:
        before = ModelCard.read(project / "models/model.json").version
        assert _versions(first_url) == _versions(second_url) == (before, before)
        epochs = json.loads((project / "models/model.json").read_text())["train"]["epochs"]
        sh("dvc", "exp", "run", "-S", f"train.epochs={epochs + 1}", cwd=project)  # promotes a new pair
        after = ModelCard.read(project / "models/model.json").version
        assert after != before
        roll_out()
        deadline = time.monotonic() + 60
        while {_versions(first_url), _versions(second_url)} != {(after, after)} and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _versions(first_url) == _versions(second_url) == (after, after)
        person = json.loads((pod / "model.json").read_text())["labels"][0]
        photo = sorted((lfw / person).iterdir())[-1].read_bytes()
        assert [post(url, photo)[1]["model_version"] for url in (first_url, second_url)] == [after, after]
    finally:
        stop_server(first)
        stop_server(second)


def test_get_routes_answer_head_with_the_same_headers_and_no_body(server):
    url, _, _ = server
    for path in ("/", "/health", "/model"):
        with urllib.request.urlopen(urllib.request.Request(url + path, method="HEAD"), timeout=30) as head:
            assert head.status == 200 and head.read() == b""
            head_type = head.headers["content-type"]
        with urllib.request.urlopen(url + path, timeout=30) as get:
            assert get.headers["content-type"] == head_type
    assert _request(url, "/predict", method="HEAD")[0] == 405  # a POST route stays POST only


def test_a_broken_record_store_costs_feedback_ids_not_answers_and_recovers(project, lfw, tmp_path):
    """A real fault: the record store's pending folder is a file, so every write there fails (as on a store that
    went wrong after the start); /predict still names the face, /health says why, and it recovers by itself."""
    records = tmp_path / "records"
    records.mkdir()  # --records must name a folder that exists
    process, url = start_server(project, "--records", str(records))
    try:
        person = json.loads((project / "models/model.json").read_text())["labels"][0]
        photo = sorted((lfw / person).iterdir())[-1].read_bytes()
        (records / ".faceops").mkdir(parents=True, exist_ok=True)
        (records / ".faceops/pending").write_text("not a folder")
        status, answer = post(url, photo)
        assert status == 200 and answer["faces"][0]["name"] == person
        assert "id" not in answer["faces"][0]
        assert answer["feedback_unavailable"].startswith(f"the record store {records} failed: File exists: ")
        health = _request(url, "/health")[1]
        assert health["status"] == "degraded" and health["records"] == answer["feedback_unavailable"]
        (records / ".faceops/pending").unlink()
        time.sleep(5.5)  # the keeper tries the store again 5 s after a failure
        status, answer = post(url, photo)
        assert status == 200 and len(answer["faces"][0]["id"]) == 16 and "feedback_unavailable" not in answer
        assert _request(url, "/health")[1]["status"] == "ok"
    finally:
        stop_server(process)


def test_feedback_the_store_cannot_keep_stays_waiting_and_is_503(project, lfw, tmp_path):
    """The feedback folder is a file (a real write failure): the verdict is refused with 503 and the reason,
    the face still waits, and the same request works once the folder can be written again."""
    records = tmp_path / "records"
    records.mkdir()  # --records must name a folder that exists
    process, url = start_server(project, "--records", str(records))
    try:
        person = json.loads((project / "models/model.json").read_text())["labels"][0]
        status, answer = post(url, sorted((lfw / person).iterdir())[-1].read_bytes())
        face_id = answer["faces"][0]["id"]
        (records / ".faceops/feedback").write_text("not a folder")
        status, body = _feedback(url, {"id": face_id, "person": person})
        assert status == 503 and body["detail"].startswith("the record store could not keep the verdict on face")
        assert (records / ".faceops/pending" / f"{face_id}.json").exists()
        (records / ".faceops/feedback").unlink()
        assert _feedback(url, {"id": face_id, "person": person})[0] == 201
        assert (records / ".faceops/feedback" / f"{face_id}.json").exists()
        assert not (records / ".faceops/pending" / f"{face_id}.json").exists()
    finally:
        stop_server(process)


def test_a_model_file_that_does_not_match_its_card_is_not_taken_live(server, lfw):
    """The card records the weights file's hash and outputs: another model file (here: the same zip with bytes
    appended, which loads) is refused with /health degraded naming the mismatch; a symlink to /dev/zero is
    never copied or read, by the service or by `faceops predict`."""
    url, path, meta = server
    model = path / "models/model.keras"
    good = model.read_bytes()
    before = json.loads(urllib.request.urlopen(url + "/health").read())
    photo = sorted((lfw / meta["labels"][0]).iterdir())[-1].read_bytes()
    try:
        model.write_bytes(good + b"\0" * 64)  # still a readable .keras file, but not the one the card names
        health = json.loads(urllib.request.urlopen(url + "/health").read())
        assert health["status"] == "degraded" and health["model_version"] == before["model_version"]
        assert "models/model.keras does not match its card" in health["reason"] and "weights hash" in health["reason"]
        status, answer = post(url, photo)
        assert status == 200 and answer["faces"][0]["name"] == meta["labels"][0]
        cli = sh("faceops", "predict", "x.jpg", cwd=path, check=False)
        assert cli.returncode == 1 and "models/model.keras does not match its card" in cli.stderr

        model.unlink()
        model.symlink_to("/dev/zero")
        started = time.monotonic()
        health = json.loads(urllib.request.urlopen(url + "/health", timeout=30).read())
        assert health["status"] == "degraded" and "model.keras: not a regular file" in health["reason"]
        cli = sh("faceops", "predict", "x.jpg", cwd=path, check=False)
        assert cli.returncode == 1 and "models/model.keras: not a regular file" in cli.stderr
        assert time.monotonic() - started < 30
    finally:
        model.unlink(missing_ok=True)
        model.write_bytes(good)
    assert json.loads(urllib.request.urlopen(url + "/health").read()) == before
