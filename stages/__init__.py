"""The DVC stages, one thin module each: read params.yaml, call the faceops package, write the outputs.

dvc.yaml runs them from the repository root as `python -m stages.<name>`.
"""
