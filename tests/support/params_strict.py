"""Helpers of tests/*/test_params_strict.py, shared by its tiers."""


def _write(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path
