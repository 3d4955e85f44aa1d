"""The manifest and split contract: typed rows written and read back, and one line naming the file, the line and
the column for every kind of damage (small CSVs, no photos needed)."""

import pytest

from faceops.core.errors import FaceopsError
from faceops.data.manifest import (
    MANIFEST_COLUMNS,
    SPLIT_COLUMNS,
    Face,
    SplitFace,
    read_manifest,
    read_rows,
    read_split,
    write_manifest,
)

HEADER = ",".join(MANIFEST_COLUMNS)
GOOD = 'data/faces/Ann/a.png,Ann,dataset/raw/Ann/a.jpg,"1, 2, 30, 30",aa11,48,48'


def _csv(tmp_path, *lines: str, name: str = "faces.csv"):
    path = tmp_path / name
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def test_rows_round_trip(tmp_path):
    faces = [
        Face("data/faces/NA/a.png", "NA", "dataset/raw/NA/a,b.jpg", "1, 2, 30, 30", "aa11", 48, 48),
        Face("data/faces/nan/b.png", "nan", "dataset/raw/nan/b\rc.jpg", "3, 4, 40, 40", "bb22", 48, 48),
    ]
    write_manifest(tmp_path / "faces.csv", faces)
    assert read_rows(tmp_path / "faces.csv", Face) == faces  # names pandas would take for gaps stay names
    frame = read_manifest(tmp_path / "faces.csv")
    assert list(frame.columns) == list(MANIFEST_COLUMNS)
    assert frame["person"].tolist() == ["NA", "nan"] and frame["width"].tolist() == [48, 48]
    assert str(frame["width"].dtype) == "int64"


def test_an_empty_manifest_has_its_columns(tmp_path):
    write_manifest(tmp_path / "faces.csv", [])
    frame = read_manifest(tmp_path / "faces.csv")
    assert frame.empty and list(frame.columns) == list(MANIFEST_COLUMNS)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('data/faces/Ann/b.png,,dataset/raw/Ann/b.jpg,"1, 2, 3, 4",bb22,48,48', "line 3: column 'person' is empty"),
        (
            'data/faces/Ann/b.png,Ann,dataset/raw/Ann/b.jpg,"1, 2, 3, 4",bb22,wide,48',
            "line 3: column 'width' is 'wide'",
        ),
        ('data/faces/Ann/b.png,Ann,dataset/raw/Ann/b.jpg,"1, 2, 3, 4",bb22,48,-1', "line 3: column 'height' is '-1'"),
        ('data/faces/Ann/b.png,Ann,dataset/raw/Ann/b.jpg,"1, 2, 3, 4",bb22,0,48', "line 3: column 'width' is '0'"),
        ("data/faces/Ann/b.png,Ann,dataset/raw/Ann/b.jpg", "line 3: column 'box' is missing"),
        ("data/faces/Ann/b.png,Ann,x,y,bb22,48,48,extra", "line 3: 8 fields, but the header names 7 columns"),
    ],
)
def test_a_bad_row_names_the_file_line_and_column(tmp_path, line, message):
    path = _csv(tmp_path, HEADER, GOOD, line, GOOD)
    with pytest.raises(FaceopsError) as caught:
        read_manifest(path)
    assert str(caught.value).startswith(f"{path} {message}")
    assert "\n" not in str(caught.value)


def test_a_bad_file_is_one_line(tmp_path):
    with pytest.raises(FaceopsError, match=r"missing\.csv: manifest not found \(run the `faces` stage first"):
        read_manifest(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(FaceopsError, match=r"empty\.csv: not a readable CSV manifest \(the file is empty\)"):
        read_manifest(tmp_path / "empty.csv")
    header_only = _csv(tmp_path, "path,person", "x.png,Ann", name="short.csv")
    with pytest.raises(FaceopsError, match=r"short\.csv: manifest lacks the column\(s\) source, box, sha256, width"):
        read_manifest(header_only)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(f"{HEADER}\r\n".encode() + GOOD.replace("Ann", "Zoë").encode("latin-1") + b"\r\n")
    with pytest.raises(FaceopsError, match=r"latin\.csv: not a readable CSV manifest \("):
        read_manifest(latin)


def test_the_split_is_the_manifest_plus_a_subset(tmp_path):
    header = ",".join(SPLIT_COLUMNS)
    path = _csv(tmp_path, header, f"{GOOD},train", f"{GOOD},stranger", name="split.csv")
    assert [row.subset for row in read_rows(path, SplitFace)] == ["train", "stranger"]
    assert read_split(path)["subset"].tolist() == ["train", "stranger"]
    bad = _csv(tmp_path, header, f"{GOOD},test", f"{GOOD},holdout", name="bad.csv")
    with pytest.raises(FaceopsError) as caught:
        read_split(bad)
    assert str(caught.value) == f"{bad} line 3: column 'subset' is 'holdout', not one of train, test, stranger"
    with pytest.raises(FaceopsError, match=r"faces\.csv: split lacks the column\(s\) subset \(line 1, the header\)$"):
        read_split(_csv(tmp_path, HEADER, GOOD))
    with pytest.raises(FaceopsError, match=r"split\.csv: split not found \(run the `split` stage first"):
        read_split(tmp_path / "nowhere" / "split.csv")


def test_a_spreadsheets_byte_order_mark_is_no_part_of_a_column_name(tmp_path):
    path = tmp_path / "faces.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\r\n{GOOD}\r\n".encode())
    assert read_manifest(path)["path"].tolist() == ["data/faces/Ann/a.png"]
