"""`faceops people`: the data set and the live model, person by person (a trained project: tests/e2e/test_readme.py)."""

import json
import subprocess

from helpers import tool_env
from PIL import Image


def _project(tmp_path):
    for person, count in (("Ann", 2), ("Bob", 1)):
        folder = tmp_path / "dataset/raw" / person
        folder.mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (8, 8)).save(folder / f"{person}_{i}.jpg")
    (tmp_path / "data").mkdir()
    (tmp_path / "data/faces.csv").write_text(
        'path,person,source,box,sha256,width,height\nx.png,Ann,y.jpg,"1,1,2,2",ab,96,96\n'
    )
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/per_person.csv").write_text("person,precision,recall,f1,support\nAnn,1.0,0.5,0.667,2\n")


def test_people_lists_photos_faces_and_what_the_model_knows(tmp_path):
    _project(tmp_path)
    result = subprocess.run(
        ["faceops", "people", "--json"], cwd=tmp_path, env=tool_env(), capture_output=True, text=True, check=True
    )
    people = json.loads(result.stdout)
    assert [(p["name"], p["photos"], p["faces"], p["known"], p["test_recall"]) for p in people] == [
        ("Ann", 2, 1, False, 0.5),
        ("Bob", 1, 0, False, None),
    ]
    assert len(people[0]["newest_photo"]) == 10  # YYYY-MM-DD
    table = subprocess.run(["faceops", "people"], cwd=tmp_path, env=tool_env(), capture_output=True, text=True)
    assert "| Ann | 2 | 1 | does not know | 50% |" in table.stdout and table.stdout.strip().endswith(
        "2 people; 0 known to the live model"
    )


def test_a_photo_outside_a_person_folder_is_one_line(tmp_path):
    _project(tmp_path)
    Image.new("RGB", (8, 8)).save(tmp_path / "dataset/raw/loose.jpg")
    result = subprocess.run(["faceops", "people"], cwd=tmp_path, env=tool_env(), capture_output=True, text=True)
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "error: dataset/raw/loose.jpg: photos must be inside a folder named after the person"
    )
