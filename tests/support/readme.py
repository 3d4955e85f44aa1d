"""Helpers of tests/*/test_readme.py, shared by its tiers."""

from __future__ import annotations

import re

from helpers import REPO


def readme_block(heading: str) -> list[str]:
    """The commands of the first bash block after `heading`, without comments."""
    text = (REPO / "README.md").read_text()
    block = re.search(re.escape(heading) + r".*?```bash\n(.*?)```", text, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
