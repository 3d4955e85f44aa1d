"""DVC stage `params`: all of params.yaml checked before any other stage runs.

Why a stage of its own: DVC deletes a stage's outputs before it runs the stage's command, so a value that
stage would refuse (`train.learning_rate: 0`) used to cost the outputs first. This stage depends on the
whole file, so it re-runs on every change (a misspelled section too), and the faces stage depends on its
output, so DVC runs it first and stops here. Its output never changes, so passing re-runs nothing else.
"""

import argparse

from faceops.core.atomic import write_json
from faceops.core.entry import run_stage
from faceops.core.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, help="written only when every setting is valid")
    args = parser.parse_args()
    load_params(args.params)
    write_json(args.out, {"params": args.params, "valid": True})
    print(f"{args.params}: every setting is valid")


if __name__ == "__main__":
    run_stage("params", main)
