import pytest


@pytest.mark.slow
def test_rejected_faces_stop_a_lookalike_being_named(tmp_path, lfw, monkeypatch):
    """A constructed case with the real dlib model: at a loose target FAR, Hans Blix is named Tony Blair.
    Five of his faces rejected as "not Tony_Blair" (crops as the service keeps them) make the next model
    answer unknown for his other faces, while Tony Blair's own faces are still named."""
    import dataclasses

    from helpers import make_project, sh

    from faceops.core.params import load_params
    from faceops.data.images import load_image
    from faceops.data.manifest import read_split
    from faceops.data.negatives import CROP_MARGIN, read_rejections
    from faceops.data.photos import face_region, save_photo
    from faceops.model.features import FeatureCache
    from faceops.model.predict import FacePredictor
    from faceops.model.recogniser import Recogniser
    from faceops.model.train import train_recogniser

    project = make_project(tmp_path / "repo", lfw, people=5, train={"backbone": "dlib_resnet", "epochs": 30})
    sh("dvc", "repro", "--quiet", "split", cwd=project)
    monkeypatch.chdir(project)
    params = load_params()
    loose = dataclasses.replace(params.train.unknown, target_far=0.3)
    split = read_split("data/split.csv")
    assert "Tony_Blair" in set(split["person"]) and "Hans_Blix" not in set(split["person"])

    def trained(rejections: list) -> Recogniser:
        train = dataclasses.replace(params.train, unknown=loose)
        cache = FeatureCache(".faceops/features")
        result = train_recogniser(split, 64, 42, params.faces, train, cache, rejections)
        return Recogniser(result.model, result.card)

    def answers(recogniser: Recogniser, photos: list) -> list[str]:
        names = []
        for photo in photos:
            rgb = load_image(photo)
            boxes = detector.detect(rgb)[:1]
            features = recogniser.extractor(recogniser.extractor.inputs_from_photo(rgb, boxes))
            names += [identity.name for identity in recogniser.identify(features)]
        return names

    before = trained([])
    detector = FacePredictor(before).detector
    blix = sorted((lfw / "Hans_Blix").iterdir())
    blair = sorted((lfw / "Tony_Blair").iterdir())[-20:]
    for photo in blix[:5]:  # what `faceops feedback accept` writes for five "not Tony_Blair" verdicts
        rgb = load_image(photo)
        crop = face_region(rgb, detector.detect(rgb)[0], CROP_MARGIN)
        save_photo(tmp_path / "negatives/Tony_Blair", "Tony_Blair", crop)
    held_out = blix[5:25]

    named_before = answers(before, held_out).count("Tony_Blair") / len(held_out)
    after = trained(read_rejections(tmp_path / "negatives"))
    named_after = answers(after, held_out).count("Tony_Blair") / len(held_out)
    assert named_before >= 0.5, "the constructed case needs a lookalike the loose model names"
    assert named_after <= named_before / 4
    assert after.card.open_set.rejections == 5
    row = after.labels.index("Tony_Blair")
    assert after.card.open_set.threshold_of(row) < after.card.open_set.threshold
    assert [after.card.open_set.threshold_of(i) for i in range(len(after.labels)) if i != row] == [
        after.card.open_set.threshold
    ] * (len(after.labels) - 1)
    assert answers(after, blair).count("Tony_Blair") >= 0.8 * len(blair)
