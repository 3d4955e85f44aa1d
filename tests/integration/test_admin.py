"""The admin console (/admin) and `faceops unknowns` for real: `faceops serve` of a dlib model trained here on four
LFW people, two other LFW people sent to it as strangers, and Debian's chromium driving the page."""

from support.drift import _card

from faceops.records.store import FolderStore
from faceops.service import console


def test_the_console_says_why_a_part_cannot_be_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no git repository, no registry, no groups yet
    card, store = _card(), FolderStore(tmp_path)
    assert console.versions(tmp_path)["versions"] == [] and console.versions(tmp_path)["error"]
    assert console.unknown_groups(store, card, tmp_path)["note"].endswith("no groups yet: run `faceops unknowns` first")
    assert console.queue(store, card, tmp_path) == [] and console.recent(store, card, tmp_path) == []


# ---- for real: a served model, strangers, the page in chromium ----


# Not retrained here (a full dvc repro takes minutes): `dvc add` and the pipeline take a folder as any other.
