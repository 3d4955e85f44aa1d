"""The faceops command line: one module per command group, assembled in faceops.cli.main."""


def main(argv: list[str] | None = None) -> int:
    """The `faceops` console script; imports the commands only when it runs (nothing happens at import)."""
    from faceops.cli.main import main as run

    return run(argv)
