"""The service's doors for names, for real: `faceops serve` with API keys on 127.0.0.1 and a dlib model trained here.

Bad names and malformed bodies are 400 with a message naming the rule, never 201 and never 500; /docs works
with keys on."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from helpers import make_project, sh, tool_env
from support.serve import post, start_server, stop_server

ADMIN_KEY = "admin-key-names-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory, lfw):
    path = make_project(
        tmp_path_factory.mktemp("names") / "repo", lfw, people=3, images=12, train={"backbone": "dlib_resnet"}
    )
    sh("dvc", "repro", cwd=path)
    process, url = start_server(path, env=tool_env() | {"FACEOPS_API_KEYS": f"admin:{ADMIN_KEY}"})
    labels = json.loads((path / "models/model.json").read_text())["labels"]
    yield url, path, labels
    stop_server(process)


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _feedback(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        url + "/feedback", data=body, method="POST", headers={"Content-Type": "application/json", **ADMIN}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    "name, message",
    [
        ("Ann\x1b[31m", "contains a control character (U+001B)"),
        ("Ann\x00", "contains a control character (U+0000)"),
        ("Ann\nBob", "contains a control character (U+000A)"),
        ("A" * 300, "has 300 characters, at most 100"),
        ("Ann\u200d", "contains an invisible format character (U+200D)"),
        ("\u202eAnn", "contains an invisible format character (U+202E)"),
        ("*", "contains a glob character"),
        (".hidden", "is hidden"),
    ],
)
def test_enrolment_refuses_bad_names_with_400(served, lfw_photo, name, message):
    url, project, _ = served
    path = f"/people/{urllib.parse.quote(name, safe='')}/photos"
    status, answer = post(url, lfw_photo.read_bytes(), headers=ADMIN, path=path)
    assert status == 400, answer
    assert message in answer["detail"]
    assert not any(name in p.name for p in (project / "dataset/raw").iterdir())


def test_enrolment_refuses_a_second_spelling_of_a_known_person(served, lfw_photo):
    url, _, labels = served
    other = labels[0].upper() if labels[0] != labels[0].upper() else labels[0].lower()
    status, answer = post(url, lfw_photo.read_bytes(), headers=ADMIN, path=f"/people/{other}/photos")
    assert status == 400, answer
    assert f"{other!r} is another spelling of the existing person {labels[0]!r}" in answer["detail"]


@pytest.mark.parametrize(
    "body, message",
    [
        (b"[" * 3000 + b"]" * 3000, '{"id": FACE_ID, "person": NAME}'),  # nested deeper than Python's stack
        (b'{"id": "ab12", "person": "Ann\\u0000"}', "contains a control character (U+0000)"),
        (b'{"id": "ab12", "person": {"a": {"b": ["c"]}}}', 'give exactly one of "person"'),
        (b'{"id": "ab12", "not": "' + b"x" * 300 + b'"}', "at most 100"),
        (b"\xff\xfe not utf-8", '{"id": FACE_ID, "person": NAME}'),
    ],
)
def test_malformed_feedback_is_400_never_500(served, body, message):
    url, _, _ = served
    status, answer = _feedback(url, body)
    assert status == 400, answer
    assert message in answer["detail"]


def test_docs_work_with_keys_on(served):
    url, _, _ = served
    status, page = _get(url + "/docs")
    assert status == 200 and b"swagger-ui" in page
    status, schema = _get(url + "/openapi.json")
    assert status == 200 and json.loads(schema)["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    css = next(part.split('"')[0] for part in page.decode().split('href="')[1:] if ".css" in part.split('"')[0])
    assert _get(urllib.parse.urljoin(url, css))[0] == 200
    assert _get(url + "/model")[0] == 401  # the data stays behind the key
    assert _get(url + "/model", ADMIN)[0] == 200
