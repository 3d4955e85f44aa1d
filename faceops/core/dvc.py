"""DVC, in one place: every use of DVC's Python API (dvc.repo.Repo, dvc_data) and of the `dvc` command goes through
this module.

Why: DVC's Python API is not a stable interface (its caches, remotes and hash objects moved between majors), so
faceops supports one range of DVC versions, the one pinned in pyproject.toml. The first use checks the installed
version against it and refuses any other with one line naming both; `faceops doctor` shows it as a check. The rest
of faceops sees a few plain calls: run a `dvc` command, the default remote, a remote's filesystem, the cache and
the default remote as object stores, pulling objects by hash. DVC's own files and folders are named here too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from faceops.core import tools
from faceops.core.errors import FaceopsError

_LOWEST, _BELOW_MAJOR = (3, 50), 4
SUPPORTED = f">={_LOWEST[0]}.{_LOWEST[1]},<{_BELOW_MAJOR}"  # as pyproject.toml pins dvc[s3]

# DVC's files in a project
PIPELINE = "dvc.yaml"
LOCK = "dvc.lock"
CACHE_FILES = ".dvc/cache/files"  # the local cache's objects
RUN_CACHE = ".dvc/cache/runs"  # run records
STATE = ".dvc/tmp"  # indexes and temporary copies, rebuilt on demand

_checked: list[str] = []  # the installed version, once it has been checked


def installed_version() -> str:
    """The installed DVC's version, from its package metadata (DVC itself is not imported)."""
    from importlib import metadata

    try:
        return metadata.version("dvc")
    except metadata.PackageNotFoundError:
        raise FaceopsError(f"DVC is not installed; faceops needs dvc{SUPPORTED}: pip install -e .") from None


def version_problem(version: str) -> str | None:
    """Why `version` of DVC cannot be used, or None when it is in the supported range."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if match and (int(match[1]), int(match[2])) >= _LOWEST and int(match[1]) < _BELOW_MAJOR:
        return None
    return f"DVC {version} is installed; faceops supports dvc{SUPPORTED} (pyproject.toml): pip install -e ."


def check_version(lookup: Callable[[], str] = installed_version) -> str:
    """The installed version (from `lookup`), or a FaceopsError naming it and the supported range."""
    version = lookup()
    problem = version_problem(version)
    if problem:
        raise FaceopsError(problem)
    return version


def _require() -> None:
    """On the first use of DVC in this process: check its version (once)."""
    if not _checked:
        _checked.append(check_version())


# -- the dvc command -----------------------------------------------------------------------------------


def run(
    *args: str, cwd: str | os.PathLike[str] = ".", check: bool = True, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`dvc ARGS` of this interpreter (`python -m dvc`), whatever `dvc` PATH finds first; see tools.run."""
    _require()
    return tools.run([sys.executable, "-m", "dvc", *args], cwd, check, env)


def default_remote(root: str | os.PathLike[str]) -> str:
    """The name of the project's default remote; "" when there is none."""
    answer = run("remote", "default", cwd=root, check=False)
    return answer.stdout.strip() if answer.returncode == 0 else ""


def metrics_diff(root: str | os.PathLike[str], base: str, path: str) -> dict[str, dict]:
    """`dvc metrics diff BASE --all` for one metrics file: per metric, its old and new value and the difference."""
    result = run("metrics", "diff", base, "--all", "--json", "--targets", path, cwd=root)
    return json.loads(result.stdout or "{}").get(path, {})


# -- the Python API ------------------------------------------------------------------------------------


class ObjectStore:
    """A DVC object database (the local cache, or a remote): objects by their md5 ("….dir" for listings)."""

    def __init__(self, odb: Any) -> None:  # noqa: ANN401 - dvc_data's HashFileDB
        self._odb = odb

    @property
    def protocol(self) -> str:
        """ "local" for a folder on this machine, else the remote's scheme ("s3", ...)."""
        return self._odb.fs.protocol

    @property
    def location(self) -> str:
        """Where its objects are: a folder, or a path in a bucket."""
        return str(self._odb.path)

    def has_root(self) -> bool:
        """Whether its folder exists (not before the first push); an unreachable remote raises its filesystem's
        own error."""
        return bool(self._odb.fs.exists(self._odb.path))

    def exists(self, oid: str) -> bool:
        return bool(self._odb.exists(oid))

    def path(self, oid: str) -> str:
        """The object's path in the store (a file on this machine, for the local cache)."""
        return self._odb.oid_to_path(oid)

    def read(self, oid: str) -> bytes:
        with self._odb.fs.open(self._odb.oid_to_path(oid), "rb") as handle:
            return handle.read()

    def delete(self, oid: str) -> None:
        self._odb.delete(oid)


@dataclass(frozen=True)
class RemoteFs:
    """A DVC remote's filesystem: an fsspec filesystem (s3fs for a bucket), the remote's path in it, its scheme."""

    fs: Any  # fsspec.AbstractFileSystem
    path: str
    protocol: str  # DVC's name for it: "local", "s3", ...

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.path}"


class Project:
    """A DVC project opened through DVC's Python API; a context manager (close it to release DVC's locks)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        _require()
        from dvc.repo import Repo

        self._repo = Repo(str(root))

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._repo.close()

    @property
    def default_remote(self) -> str | None:
        return self._repo.config["core"].get("remote")

    def remote_names(self) -> list[str]:
        return sorted(self._repo.config.get("remote", {}))

    @property
    def cache(self) -> ObjectStore:
        return ObjectStore(self._repo.cache.local)

    def remote_store(self, name: str, command: str) -> ObjectStore:
        """The remote `name` as an object store; `command` names the faceops command in DVC's messages."""
        return ObjectStore(self._repo.cloud.get_remote_odb(name, command=command))

    def remote_fs(self, name: str) -> RemoteFs:
        remote = self._repo.cloud.get_remote(name)
        return RemoteFs(remote.fs.fs, str(remote.path), remote.fs.protocol)

    def pull(self, oids: Iterable[str]) -> None:
        """Objects from the default remote into the cache, by md5 (whatever the workspace holds)."""
        from dvc_data.hashfile.hash_info import HashInfo

        self._repo.cloud.pull([HashInfo("md5", oid) for oid in oids])

    @property
    def run_cache(self) -> Path:
        return Path(self._repo.stage_cache.cache_dir)

    @property
    def site_cache(self) -> Path:
        """DVC's site cache folder for this project (its data index and hash state live there)."""
        return Path(self._repo.site_cache_dir)
