import pytest

from faceops.core.errors import FaceopsError
from faceops.data.manifest import read_manifest


def test_read_manifest_errors(tmp_path):
    with pytest.raises(FaceopsError, match=r"missing\.csv: manifest not found"):
        read_manifest(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,person\nx.png,Ann\n")
    with pytest.raises(FaceopsError, match=r"bad\.csv: manifest lacks the column\(s\) source, box, sha256"):
        read_manifest(bad)


def test_one_box_per_face_when_haar_also_boxes_a_group_of_them():
    """Haar's grouping gave a 21st, weaker box around a face of a 20-face group photo; nested boxes keep the surer."""
    from faceops.data.detect import Box, suppress_overlaps

    face, around, beside = Box(364, 363, 123, 123), Box(286, 233, 281, 281), Box(530, 360, 126, 126)
    assert suppress_overlaps([around, face, beside], [1.5, 10.3, 4.4]) == [face, beside]
    assert suppress_overlaps([around, face], [12.0, 3.0]) == [around]  # the surer one stays, whichever is larger
    assert suppress_overlaps([face, Box(500, 500, 40, 40)], [5.0, 6.0]) == [Box(500, 500, 40, 40), face]
