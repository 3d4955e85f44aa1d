"""README and the pages in docs/: their commands and the names they use hold in this repository.

README is the quick start: its first block is the two commands a newcomer runs (`make demo`, then `make test`,
which CI runs through .ci/run), and it links every page in docs/. On every page, a `faceops` command parses with
the CLI's own parser (options of a command written as a template, `[--push]`, `ID…|--all`, exist), a `make`
target and its variables are in the Makefile, a `python SCRIPT.py` exists and takes the options shown, a
params.yaml setting exists (and a value shown for it is allowed), a path exists (or is git-ignored, or is a place
of the project's layout), a `faceops.module.name` is defined, a FACEOPS_ variable is read somewhere, a route is
served, and a link leads to a page and a heading that exist. Three pages hold tables that must equal the code:
params.md (every setting and its default), privacy.md (the inventory of person data) and serving.md (each
route and the key it needs).

README's "Your own faces" commands also run as written in a new project (slow). Three substitutions, each for
something this machine lacks: a folder of photos for the webcam (`--source`, which README names as the
alternative), a slice of LFW for ~/Pictures/people, and an LFW photo for group-photo.jpg. `faceops serve` is
left out there: tests/e2e/test_serve.py runs it over HTTP.
"""

from __future__ import annotations

import re
import shutil

import pytest
from helpers import FOUR_PEOPLE, new_project, sh
from support.readme import readme_block

# Files of the code that a page may name (variables, place names), read to check the pages against them.


# ---- README: the quick start ----


# ---- every page: what it names exists ----


# ---- pages whose tables equal the code ----


# ---- README's own commands, run as written ----


@pytest.mark.slow
def test_your_own_faces_commands_work_as_written(tmp_path, lfw):
    commands = readme_block("## Your own faces")
    assert commands[0] == ". .venv/bin/activate"  # the venv: this interpreter's scripts are first on PATH here
    assert commands[-1] == "faceops serve"
    people = tmp_path / "Pictures" / "people"
    for person in FOUR_PEOPLE[1:]:
        (people / person).mkdir(parents=True)
        for photo in sorted((lfw / person).iterdir())[:20]:
            shutil.copy(photo, people / person / photo.name)
    ada = tmp_path / "ada-photos"
    ada.mkdir()
    for photo in sorted((lfw / FOUR_PEOPLE[0]).iterdir())[:12]:
        shutil.copy(photo, ada / photo.name)
    group_photo = sorted((lfw / FOUR_PEOPLE[0]).iterdir())[-1]
    project = new_project(tmp_path / "repo")
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-qm", "project", cwd=project)

    script = []
    for command in commands[1:-1]:
        command = command.replace("~/Pictures/people", str(people)).replace("group-photo.jpg", str(group_photo))
        if command.startswith("faceops capture"):
            command += f" --source {ada}"
        script.append(command)
    result = sh("bash", "-euo", "pipefail", "-c", "\n".join(script), cwd=project, check=False)
    assert result.returncode == 0, "\n".join(script) + "\n" + result.stdout + result.stderr
    assert sh("git", "status", "--porcelain", "--", "dataset", cwd=project).stdout == ""  # all committed
    assert len(list((project / "dataset/raw/Ada").glob("*.jpg"))) >= 10
    assert (project / "models/model.keras").exists()
    assert re.search(r"\b(Ada|unknown)\b", result.stdout.splitlines()[-1]), result.stdout
    assert re.search(r"\| Ada \| \d+ \| \d+ \| (knows|does not know) \|", result.stdout), result.stdout
