"""The admin console (/admin) and `faceops unknowns` for real: `faceops serve` of a dlib model trained here on four
LFW people, two other LFW people sent to it as strangers, and Debian's chromium driving the page."""

import json
import urllib.request
from collections import Counter

import pytest
from helpers import FOUR_PEOPLE, make_project, sh, tool_env
from support.serve import ADMIN_KEY, PREDICT_KEY, _browser, _request, post, start_server, stop_server

STRANGERS = ["Ariel_Sharon", "Hugo_Chavez"]  # in the shared LFW slice, not among the four people the model knows
PHOTOS = 12  # of each stranger


# ---- for real: a served model, strangers, the page in chromium ----


@pytest.fixture(scope="module")
def project(tmp_path_factory, lfw):
    path = make_project(tmp_path_factory.mktemp("admin") / "repo", lfw, train={"backbone": "dlib_resnet", "epochs": 30})
    sh("dvc", "repro", cwd=path)
    return path


@pytest.fixture(scope="module")
def served(project):
    """The model served with API keys (one predict, one admin)."""
    keys = f"predict:{PREDICT_KEY}, admin:{ADMIN_KEY}"
    process, url = start_server(project, env=tool_env() | {"FACEOPS_API_KEYS": keys})
    yield url
    stop_server(process)


ADMIN = {"X-API-Key": ADMIN_KEY}


def _strangers_seen(url: str, lfw) -> dict[str, str]:
    """Photos of the two strangers through /predict; face id -> who it is, for the photos of one face answered
    unknown (a face in the background of a photo is not known to be them)."""
    truth = {}
    for person in STRANGERS:
        for photo in sorted((lfw / person).iterdir())[:PHOTOS]:
            status, answer = post(url, photo.read_bytes(), headers=ADMIN)
            assert status == 200, answer
            if len(answer["faces"]) == 1 and answer["faces"][0]["name"] == "unknown":
                truth[answer["faces"][0]["id"]] = person
    return truth


@pytest.mark.slow
def test_unknowns_finds_the_two_strangers_and_enrols_one(served, project, lfw):
    truth = _strangers_seen(served, lfw)
    assert all(list(truth.values()).count(person) >= PHOTOS * 2 // 3 for person in STRANGERS), Counter(truth.values())
    listed = json.loads(sh("faceops", "unknowns", "--json", cwd=project).stdout)
    groups = [[face["id"] for face in group["faces"]] for group in listed["groups"]]
    assert len(groups) == 2, listed
    majorities = [Counter(truth[i] for i in group if i in truth).most_common(1)[0] for group in groups]
    assert {person for person, _ in majorities} == set(STRANGERS)
    known = sum(1 for group in groups for i in group if i in truth)
    assert sum(count for _, count in majorities) / known >= 0.9  # purity
    assert sum(len(group) for group in groups) >= 0.8 * len(truth)  # and most of their faces are in a group
    sheet = (project / "reports/unknowns.html").read_text()
    assert sheet.count('<section class="group"') == 2 and "http://" not in sheet and "https://" not in sheet
    listing = sh("faceops", "unknowns", cwd=project).stdout
    assert "| 1 |" in listing and "| 2 |" in listing and "2 groups of at least 3" in listing

    person = majorities[1][0]
    enrolled = sh("faceops", "unknowns", "enrol", "2", "--person", person, cwd=project).stdout
    assert f"{len(groups[1])} photos of {person} added to dataset/raw/{person} from group 2" in enrolled
    assert len(list((project / "dataset/raw" / person).glob(f"{person}_*.jpg"))) == len(groups[1])
    assert not any((project / ".faceops/pending" / f"{i}.jpg").exists() for i in groups[1])
    people = {p["name"]: p for p in json.loads(sh("faceops", "people", "--json", cwd=project).stdout)}
    assert people[person]["photos"] == len(groups[1]) and not people[person]["known"]
    again = sh("faceops", "unknowns", "enrol", "2", "--person", person, cwd=project, check=False)
    assert again.returncode == 1 and again.stderr.startswith("error: no group 2 in reports/unknowns.json (groups: 1)")

    # The next run of the pipeline trains the group as any other folder: the person is then named, on photos the
    # service never saw.
    sh("dvc", "repro", cwd=project)
    people = {p["name"]: p for p in json.loads(sh("faceops", "people", "--json", cwd=project).stdout)}
    assert people[person]["known"], people[person]
    unseen = sorted((lfw / person).iterdir())[PHOTOS : PHOTOS + 6]
    answers = json.loads(sh("faceops", "predict", "--json", *map(str, unseen), cwd=project).stdout)
    named = [face["name"] for answer in answers for face in answer["faces"]]
    assert named.count(person) >= 5, named


def _get(url: str, path: str, key: str | None = None) -> int:
    request = urllib.request.Request(url + path, headers={"X-API-Key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
def test_admin_console_accepts_and_rejects_in_the_browser(served, project, lfw):
    """The page opens without a key and asks for one; with the admin key it shows every part, and Accept and Reject
    move a waiting face's crop to the feedback records with its verdict."""
    from playwright.sync_api import sync_playwright

    url = served
    assert _get(url, "/admin") == 200
    assert (_get(url, "/admin/queue"), _get(url, "/admin/queue", PREDICT_KEY)) == (401, 403)
    assert _get(url, "/admin/people", ADMIN_KEY) == 200
    faces = {}
    for person in FOUR_PEOPLE[-2:]:
        status, answer = post(url, sorted((lfw / person).iterdir())[-1].read_bytes(), headers=ADMIN)
        [face] = [face for face in answer["faces"] if face["name"] == person]
        faces[person] = face["id"]
    accepted, rejected = FOUR_PEOPLE[-2:]
    requested = []
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        page = browser.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.route(lambda target: not target.startswith(url), lambda route: route.abort())
        page.goto(url + "/admin")
        page.wait_for_selector("#keyform:not([hidden])", timeout=30_000)
        page.fill("#key", ADMIN_KEY)
        page.click("#keyform button")
        page.wait_for_selector("body[data-loaded=yes]", timeout=60_000)
        status = page.inner_text("#status")  # every part loaded, or the first that did not says why
        accept = f'#queue li.face[data-id="{faces[accepted]}"]'
        reject = f'#queue li.face[data-id="{faces[rejected]}"]'
        page.wait_for_selector(f"{accept} img.thumb[data-loaded=yes]", timeout=30_000)
        page.click(f"{accept} button.accept")
        page.wait_for_selector(f"{accept} .said", timeout=30_000)
        page.click(f"{reject} button.reject")
        page.wait_for_selector(f"{reject} .said", timeout=30_000)
        said = [page.inner_text(f"{item} .said") for item in (accept, reject)]
        people = page.eval_on_selector_all("#people tbody tr", "rows => rows.map(r => r.dataset.key)")
        recent = page.eval_on_selector_all("#recent tbody tr", "rows => rows.length")
        recent_thumbs = page.eval_on_selector_all("#recent img.thumb", "images => images.length")
        groups = page.eval_on_selector_all("#unknowns section.group", "s => s.map(g => g.dataset.group)")
        group_thumbs = page.eval_on_selector_all("#unknowns img.thumb", "images => images.length")
        serving = page.inner_text("#serving")
        browser.close()
    assert said == [f"Accepted: {accepted.replace('_', ' ')}", f"Rejected: not {rejected.replace('_', ' ')}"]
    for person, verdict in ((accepted, "is"), (rejected, "not")):
        face_id = faces[person]
        assert not (project / ".faceops/pending" / f"{face_id}.jpg").exists()
        assert (project / ".faceops/feedback" / f"{face_id}.jpg").exists()
        record = json.loads((project / ".faceops/feedback" / f"{face_id}.json").read_text())
        assert (record["verdict"], record["person"]) == (verdict, person)
    assert set(FOUR_PEOPLE) <= set(people)
    assert recent >= 2 and recent_thumbs >= 1
    written = project / "reports/unknowns.json"  # by the test before, which enrolled its group 2
    expected = [str(group["group"]) for group in json.loads(written.read_text())["groups"]] if written.exists() else []
    assert groups == expected and group_thumbs >= len(expected)
    assert serving.startswith("The service runs model") and status == "", status
    assert requested and all(address.startswith(url) for address in requested), requested


@pytest.mark.slow
def test_a_person_being_forgotten_vanishes_from_the_console(served, project, lfw):
    person = FOUR_PEOPLE[0]
    status, answer = post(url := served, sorted((lfw / person).iterdir())[-1].read_bytes(), headers=ADMIN)
    [face] = [face for face in answer["faces"] if face["name"] == person]
    assert _get(url, f"/admin/faces/{face['id']}", ADMIN_KEY) == 200
    journal = project / ".faceops/forget" / f"{person}.json"
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text("{}")
    try:
        assert _get(url, f"/admin/faces/{face['id']}", ADMIN_KEY) == 404
        _, queue = _request(url, "/admin/queue", headers=ADMIN)
        _, people = _request(url, "/admin/people", headers=ADMIN)
        _, recent = _request(url, "/admin/recent", headers=ADMIN)
    finally:
        journal.unlink()
    assert face["id"] not in {f["id"] for f in queue["faces"]}
    assert person not in {p["name"] for p in people["people"]}
    assert person not in {r["name"] for r in recent["recognitions"]} | {r["label"] for r in recent["recognitions"]}
