"""The model card's own schema: cards written by older faceops stay readable whatever params.yaml gains."""

import json
import shutil
from pathlib import Path

import pytest

from faceops.core.errors import FaceopsError
from faceops.model.card import CARD_SCHEMA, ModelCard

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "card-v1.json"  # written by main before gate v2 (format 1)


def test_a_card_of_schema_1_reads_as_the_current_schema(tmp_path):
    card = ModelCard.read(FIXTURE)
    assert card.labels == ("Ann_Example", "Bob_Example", "Cy_Example")
    assert card.schema_version == CARD_SCHEMA and card.faces.params().detector == "hog"
    assert card.train["epochs"] == 2 and card.open_set.threshold == 0.35
    card.write(tmp_path / "model.json")
    written = json.loads((tmp_path / "model.json").read_text())
    assert written["schema_version"] == CARD_SCHEMA and "format" not in written
    assert ModelCard.read(tmp_path / "model.json") == card


def test_train_settings_unknown_to_this_faceops_leave_the_card_readable(tmp_path):
    """A card trained with a train.* key added (or dropped) since reads: the snapshot is not params."""
    data = json.loads(FIXTURE.read_text())
    data["train"]["a_key_from_the_future"] = 3
    del data["train"]["dropout"]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    assert ModelCard.read(path).train["a_key_from_the_future"] == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", r"model\.json: not valid JSON"),
        ('{"schema_version": 7}', r"model\.json: schema_version is 7; allowed: 1 to 2 \(written by a newer faceops"),
        ('{"schema_version": "x"}', r"schema_version is 'x'; allowed: 1 to 2 \(train the model again"),
    ],
    ids=["truncated", "newer", "foreign"],
)
def test_an_unreadable_card_is_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "model.json"
    shutil.copy(FIXTURE, path)
    path.write_text(text)
    with pytest.raises(FaceopsError, match=message) as caught:
        ModelCard.read(path)
    assert "\n" not in str(caught.value)


def test_the_precision_is_optional_and_checked(tmp_path):
    """Cards from before mixed precision read as float32; a card of a base trained in bfloat16 says so."""
    assert ModelCard.read(FIXTURE).precision == "float32"
    data = json.loads(FIXTURE.read_text())
    path = tmp_path / "model.json"
    data["precision"] = "mixed_bfloat16"
    path.write_text(json.dumps(data))
    assert ModelCard.read(path).precision == "mixed_bfloat16"
    data["precision"] = "int8"
    path.write_text(json.dumps(data))
    with pytest.raises(FaceopsError, match=r"precision is 'int8'"):
        ModelCard.read(path)
