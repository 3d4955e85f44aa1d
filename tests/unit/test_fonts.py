"""Names in any script are drawn as letters in the plots (and so in the report, which embeds them)."""

import warnings

from faceops.model.evaluate import plot_confusion


def test_the_confusion_plot_draws_cjk_names(tmp_path):
    people = ["山田太郎", "김민준", "Ann_Smith", "Zoë"]
    confusion = [{"actual": a, "predicted": p} for a in people for p in people if a == p or p == "Zoë"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_confusion(confusion, tmp_path / "confusion.png")
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing
    assert (tmp_path / "confusion.png").stat().st_size > 0
