"""The admin console (/admin) and `faceops unknowns` for real: `faceops serve` of a dlib model trained here on four
LFW people, two other LFW people sent to it as strangers, and Debian's chromium driving the page."""

import time

from support.drift import _card
from support.serve import ADMIN_KEY, PREDICT_KEY
from support.unknowns import _keep

from faceops.records.drift import log_recognitions
from faceops.records.feedback import PendingStore
from faceops.records.store import FolderStore
from faceops.records.unknowns import Group, Grouping, write_sheet
from faceops.service import console


def _line(store: FolderStore, face_id: str) -> None:
    """The recognition-log line the service writes with a kept face."""
    record = next(r for r in PendingStore(store).waiting() if r.id == face_id)
    log_recognitions(
        store,
        [
            {
                "time": record.time,
                "name": record.name,
                "label": record.label,
                "distance": record.distance,
                "model": record.model_version,
            }
        ],
    )


def test_the_console_never_shows_a_forgotten_persons_faces(tmp_path, monkeypatch):
    """Bob is being forgotten: his faces, and faces whose closest person was hidden ("unknown"), are not listed,
    not shown as thumbnails, not in recent recognitions, drift, people or the groups of unknown faces."""
    monkeypatch.chdir(tmp_path)
    card, store, raw = _card(), FolderStore(tmp_path), tmp_path / "dataset/raw"
    ann, bob, near_bob, masked = (
        _keep(store, *answer, model=card.version)
        for answer in [("Ann", "Ann"), ("Bob", "Bob"), ("unknown", "Bob"), ("unknown", "unknown")]
    )
    for face_id in (ann, bob, near_bob):
        _line(store, face_id)
    for person in ("Ann", "Bob"):
        (raw / person).mkdir(parents=True)
        (raw / person / f"{person}_0001.jpg").write_bytes(store.get(f"pending/{ann}.jpg"))
    (tmp_path / ".faceops/forget").mkdir()
    (tmp_path / ".faceops/forget/Bob.json").write_text("{}")  # a forget under way
    records = {r.id: r for r in PendingStore(store).waiting()}
    grouping = Grouping(time.time(), "v1", ".", 1, (Group(1, (records[near_bob], records[masked])),), ())
    write_sheet(grouping, {}, tmp_path / "reports/unknowns.html", tmp_path / "reports/unknowns.json")

    assert [face["id"] for face in console.queue(store, card, raw)] == [ann]
    assert console.thumbnail(store, ann, card, raw).startswith(b"\xff\xd8")
    assert [console.thumbnail(store, f, card, raw) for f in (bob, near_bob, masked, "../x", "0" * 16)] == [None] * 5
    [person] = console.people(store, card, raw)
    assert (person["name"], person["photos"], person["threshold"]) == ("Ann", 1, 0.5)
    assert person["last_seen"] == records[ann].time
    assert [(r["name"], r["id"]) for r in console.recent(store, card, raw)] == [("Ann", ann)]
    assert [d["person"] for d in console.drift(store, card, raw)["people"]] == ["Ann"]
    assert console.unknown_groups(store, card, raw)["groups"] == []


def test_the_console_page_is_open_and_its_data_needs_the_admin_key():
    """A browser cannot send a key to open a page: /admin holds no data; everything under /admin/ is the admin's."""
    from faceops.service.access import AccessGuard, parse_keys

    guard = AccessGuard(None, ["127.0.0.1"], parse_keys(f"predict:{PREDICT_KEY},admin:{ADMIN_KEY}", "keys"))
    local = {"host": "127.0.0.1:8000"}
    assert guard.refusal("/admin", local) is None
    for path in ("/admin/queue", "/admin/faces/0123456789abcdef", "/admin/models", "/admin/"):
        assert guard.refusal(path, local)[0] == 401
        assert guard.refusal(path, local | {"x-api-key": PREDICT_KEY})[0] == 403
        assert guard.refusal(path, local | {"x-api-key": ADMIN_KEY}) is None


# ---- for real: a served model, strangers, the page in chromium ----


# Not retrained here (a full dvc repro takes minutes): `dvc add` and the pipeline take a folder as any other.
