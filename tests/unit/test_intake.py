"""What comes into the data set: never through a link or a special file; one crop per photo; CSVs that read back."""

import pandas as pd

from faceops.data.manifest import read_split
from faceops.data.split import write_split


def test_the_split_csv_reads_back_a_carriage_return(tmp_path):
    split = pd.DataFrame(
        {"path": ["f/a.png", "f/b.png"], "person": ["Ann", "Bob"], "source": ["r/Ann/x\ry.jpg", "r/Bob/b.jpg"]}
        | {"box": ["1,2,3,4"] * 2, "sha256": ["aa", "bb"], "subset": ["train", "test"]}
        | {"width": [48] * 2, "height": [48] * 2}  # the split is the whole manifest plus a subset
    )
    write_split(split, tmp_path / "split.csv")
    back = read_split(tmp_path / "split.csv")
    assert back["source"].tolist() == ["r/Ann/x\ry.jpg", "r/Bob/b.jpg"]
    assert back["person"].tolist() == ["Ann", "Bob"]
