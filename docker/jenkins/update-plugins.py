#!/usr/bin/env python3
"""Regenerates plugins.txt and plugins-deps.txt from the Jenkins update center, in one command:

    python3 docker/jenkins/update-plugins.py            # newest versions for the core in Dockerfile
    python3 docker/jenkins/update-plugins.py --keep     # keep the top-level pins, re-derive the closure

Needs a machine that reaches updates.jenkins.io (the build machine of this repository does not). The plugins
faceops uses are the lines of plugins.txt above "# ---- their dependencies"; each gets the newest version the
update center offers for the pinned core (update-center.actual.json?version=CORE), or keeps its pin with --keep.
Their dependencies are then pinned as `jenkins-plugin-cli --latest false` resolves them: the highest minimum any
pinned plugin declares (plugin-versions.json has each version's dependencies and required core), repeated until
nothing changes (jenkinsci/plugin-installation-manager-tool, README "--latest", PluginManager.java). Optional
dependencies are installed only when something else needs them, but then must meet their minimum too.
Only the standard library is used, so it runs anywhere with Python 3.9+.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
UPDATE_CENTER = "https://updates.jenkins.io/update-center.actual.json?version={core}"
PLUGIN_VERSIONS = "https://updates.jenkins.io/current/plugin-versions.json"
MARKER = "# ---- their dependencies"


def version_key(version: str) -> tuple[list[int], list[int]]:
    """Order of Jenkins plugin versions: the upstream numbers, then the build number after the first '-'
    (`3.20.0-109.ve43756e2d2b_4` < `3.20.1-1.v…`; `1415.v831096eb_5534` < `1480.v2246fd131e83`)."""
    head, _, build = version.partition("-")

    def numbers(part: str) -> list[int]:
        return [int(n) for n in re.match(r"[\d.]*", part).group(0).strip(".").split(".") if n]

    return numbers(head), numbers(build)


def pinned_core(dockerfile: Path = HERE / "Dockerfile") -> str:
    """The core version of the controller image: FROM jenkins/jenkins:<version>-lts-jdk21."""
    match = re.search(r"^FROM jenkins/jenkins:([\d.]+)-", dockerfile.read_text(), re.M)
    if not match:
        raise SystemExit(f"error: {dockerfile}: no `FROM jenkins/jenkins:<version>-...` line")
    return match.group(1)


def read_plugins(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(top-level pins, dependency pins) of plugins.txt."""
    top: dict[str, str] = {}
    deps: dict[str, str] = {}
    target = top
    for line in path.read_text().splitlines():
        if line.startswith(MARKER):
            target = deps
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition(":")
            target[name] = version
    return top, deps


def fetch(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=120) as response:
        return json.load(response)


def closure(top: dict[str, str], versions: dict) -> dict[str, str]:
    """The pins `--latest false` would install: top-level as given, each dependency at the highest minimum."""
    pins = dict(top)
    while True:
        wanted = dict(top)
        for name, version in pins.items():
            for dep in versions[name][version]["dependencies"]:
                if dep["optional"] and dep["name"] not in pins:
                    continue
                if dep["name"] not in wanted or version_key(dep["version"]) > version_key(wanted[dep["name"]]):
                    wanted[dep["name"]] = dep["version"]
        if wanted == pins:
            return pins
        pins = wanted


def write(top: dict[str, str], pins: dict[str, str], versions: dict, core: str) -> None:
    lines = [
        "# Jenkins plugins for the controller (docker/jenkins/Dockerfile), installed with --latest false: every plugin",
        "# of the dependency closure is pinned here, so nothing resolves to a newer version than listed.",
        "# Generated: docker/jenkins/update-plugins.py (needs updates.jenkins.io); plugins-deps.txt holds what each",
        "# of these declares (dependencies and minimum versions, minimum core); tests/unit/test_deploy.py checks both.",
        "# ---- used by faceops (the Jenkinsfile, jobs/, casc.yaml) ----",
        *(f"{name}:{version}" for name, version in top.items()),
        "# ---- their dependencies (the closure) ----",
        *(f"{name}:{pins[name]}" for name in sorted(pins) if name not in top),
    ]
    (HERE / "plugins.txt").write_text("\n".join(lines) + "\n")
    deps = [
        "# What each plugin pinned in plugins.txt declares: `PLUGIN:VERSION jenkins MINIMUM` (the core it needs) and",
        "# `PLUGIN:VERSION needs DEPENDENCY:MINIMUM [optional]`, from the update center's plugin-versions.json",
        f"# (update-plugins.py, for core {core}).",
    ]
    for name in sorted(pins):
        entry = versions[name][pins[name]]
        deps.append(f"{name}:{pins[name]} jenkins {entry['requiredCore']}")
        for dep in sorted(entry["dependencies"], key=lambda d: d["name"]):
            optional = " optional" if dep["optional"] else ""
            deps.append(f"{name}:{pins[name]} needs {dep['name']}:{dep['version']}{optional}")
    (HERE / "plugins-deps.txt").write_text("\n".join(deps) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the top-level pins of plugins.txt")
    args = parser.parse_args(argv)
    core = pinned_core()
    top, _ = read_plugins(HERE / "plugins.txt")
    if not args.keep:
        center = fetch(UPDATE_CENTER.format(core=core))["plugins"]
        top = {name: center[name]["version"] for name in top}
    versions = fetch(PLUGIN_VERSIONS)["plugins"]
    pins = closure(top, versions)
    too_new = [
        f"{n}:{v} needs core {versions[n][v]['requiredCore']}"
        for n, v in pins.items()
        if version_key(versions[n][v]["requiredCore"]) > version_key(core)
    ]
    if too_new:
        print(f"error: core {core} is older than these need: {', '.join(too_new)}", file=sys.stderr)
        return 1
    write(top, pins, versions, core)
    print(f"{len(pins)} plugins pinned for Jenkins {core} ({len(top)} top-level)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
