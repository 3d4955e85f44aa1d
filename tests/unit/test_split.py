import pandas as pd
import pytest

from faceops.core.errors import FaceopsError
from faceops.core.params import SplitParams
from faceops.data.split import split_manifest


def _manifest(counts: dict[str, int], duplicates: int = 0) -> pd.DataFrame:
    rows = [
        {"path": f"{person}/{i}.png", "person": person, "sha256": f"{person}-{i}"}
        for person, n in counts.items()
        for i in range(n)
    ]
    for i in range(duplicates):  # the same image twice for one person
        rows.append({"path": f"copy/{i}.png", "person": "Ann", "sha256": f"Ann-{i}"})
    return pd.DataFrame(rows)


def test_stratified_shares():
    split = split_manifest(_manifest({"Ann": 40, "Bob": 20, "Cy": 8}), 0.25, seed=1)
    test_counts = split[split["subset"] == "test"]["person"].value_counts().to_dict()
    assert test_counts == {"Ann": 10, "Bob": 5, "Cy": 2}


def test_duplicates_never_straddle_the_split():
    split = split_manifest(_manifest({"Ann": 20, "Bob": 20}, duplicates=20), 0.3, seed=3)
    sides = split.groupby("sha256")["subset"].nunique()
    assert (sides == 1).all()
    assert len(split) == 60


def test_identical_image_under_two_people_stays_on_one_side():
    frame = _manifest({"Ann": 10, "Bob": 10})
    frame.loc[len(frame)] = {"path": "Bob/x.png", "person": "Bob", "sha256": "Ann-0"}
    split = split_manifest(frame, 0.5, seed=0)
    assert split[split["sha256"] == "Ann-0"]["subset"].nunique() == 1


def test_deterministic_for_a_seed_and_different_across_seeds():
    frame = _manifest({"Ann": 30, "Bob": 30})
    first = split_manifest(frame, 0.25, seed=7)["subset"].tolist()
    assert split_manifest(frame, 0.25, seed=7)["subset"].tolist() == first
    assert split_manifest(frame.sample(frac=1, random_state=0), 0.25, seed=7).sort_index()["subset"].tolist() == first
    assert split_manifest(frame, 0.25, seed=8)["subset"].tolist() != first


def test_every_person_on_both_sides_and_single_photos_train():
    split = split_manifest(_manifest({"Ann": 2, "Bob": 1, "Cy": 3}), 0.1, seed=0)
    subsets = split.groupby("person")["subset"].apply(set).to_dict()
    assert subsets == {"Ann": {"train", "test"}, "Bob": {"train"}, "Cy": {"train", "test"}}


def test_bad_inputs():
    with pytest.raises(FaceopsError, match="manifest is empty"):
        split_manifest(_manifest({}).reindex(columns=["path", "person", "sha256"]), 0.25, seed=0)
    with pytest.raises(ValueError, match="test_size is 1.5; allowed: 0.05 to 0.5"):
        SplitParams(test_size=1.5)


def test_everyone_is_trained_on_but_people_left_out_by_validation():
    frame = _manifest({"Ann": 10, "Bob": 10, "Cy": 10, "Di": 3})
    assert set(split_manifest(frame, 0.25, seed=5)["subset"]) == {"train", "test"}  # nobody held out whole
    split = split_manifest(frame, 0.25, seed=5, left_out={"Di": 2})
    assert set(split.loc[split["person"] == "Di", "subset"]) == {"stranger"}
    assert set(split.loc[split["person"] != "Di", "subset"]) == {"train", "test"}


def test_adding_photos_leaves_the_others_where_they_were():
    before = split_manifest(_manifest({"Ann": 40, "Bob": 40}), 0.25, seed=3)
    more = _manifest({"Ann": 44, "Bob": 40})  # four new photos of Ann
    after = split_manifest(more, 0.25, seed=3).set_index("sha256")["subset"]
    moved = (after.loc[before["sha256"]].to_numpy() != before["subset"].to_numpy()).sum()
    assert moved <= 1  # at most the one face at Ann's boundary, as her test count grows from 10 to 11
