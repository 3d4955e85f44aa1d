"""README's "Your own faces" commands, run as written in a new project.

Three substitutions, each for something this machine lacks: a folder of photos for the webcam
(`--source`, which README names as the alternative), a slice of LFW for ~/Pictures/people, and an
LFW photo for group-photo.jpg. `faceops serve` is left out here: tests/test_serve.py runs it over HTTP.
"""

import re
import shutil

import pytest
from helpers import FOUR_PEOPLE, REPO, new_project, sh

pytestmark = pytest.mark.slow


def readme_block(heading: str) -> list[str]:
    """The commands of the first bash block after `heading`, without comments."""
    text = (REPO / "README.md").read_text()
    block = re.search(re.escape(heading) + r".*?```bash\n(.*?)```", text, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


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
