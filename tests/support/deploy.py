"""Helpers of tests/*/test_deploy.py, shared by its tiers."""

import re

from helpers import REPO

JENKINS = REPO / "docker/jenkins"


def standup_commands() -> list[str]:
    """The commands of the Jenkins stand-up (docs/jenkins.md): the ```sh block after "## Stand-up", one a line."""
    text = (REPO / "docs/jenkins.md").read_text()
    section = text[text.index("## Stand-up") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
