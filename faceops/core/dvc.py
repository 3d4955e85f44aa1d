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
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

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
T = TypeVar("T")


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


def run_through(*args: str, cwd: str | os.PathLike[str] = ".") -> int:
    """`dvc ARGS` with its output straight to ours (a long `dvc repro` shows its progress as it goes); its exit
    status. Interrupted, it stops the command and everything it started, as `run` does."""
    _require()
    process = subprocess.Popen(
        [sys.executable, "-m", "dvc", *args],
        cwd=cwd,
        env=tools.tool_env(),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return process.wait()
    except BaseException:
        tools.stop_group(process)
        raise


def default_remote(root: str | os.PathLike[str]) -> str:
    """The name of the project's default remote; "" when there is none."""
    answer = run("remote", "default", cwd=root, check=False)
    return answer.stdout.strip() if answer.returncode == 0 else ""


def metrics_diff(root: str | os.PathLike[str], base: str, path: str) -> dict[str, dict]:
    """`dvc metrics diff BASE --all` for one metrics file: per metric, its old and new value and the difference."""
    result = run("metrics", "diff", base, "--all", "--json", "--targets", path, cwd=root)
    return json.loads(result.stdout or "{}").get(path, {})


# -- calls to a remote or bucket, bounded in time ------------------------------------------------------

REMOTE_SECONDS_VARIABLE = "FACEOPS_REMOTE_SECONDS"
REMOTE_SECONDS_DEFAULT = 30.0
TRANSFER_SECONDS_VARIABLE = "FACEOPS_TRANSFER_SECONDS"
TRANSFER_SECONDS_DEFAULT = 900.0  # a push or pull moves the data set or a model: minutes on a slow link
_TRIES = 3  # attempts of one call that could not connect


class RemoteError(FaceopsError):
    """A remote or bucket did not answer within the bound, or could not be connected to."""


def _seconds(variable: str, default: float) -> float:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise FaceopsError(f"{variable} is {text!r}; allowed: seconds, more than 0")
    return value


def remote_seconds() -> float:
    """The bound on one remote call, retries included: FACEOPS_REMOTE_SECONDS, else 30 s."""
    return _seconds(REMOTE_SECONDS_VARIABLE, REMOTE_SECONDS_DEFAULT)


def transfer_seconds() -> float:
    """The bound on one push or pull of data (`dvc push`, a rollback's pull): FACEOPS_TRANSFER_SECONDS, else 900 s.
    Why apart from remote_seconds: these move whole data sets and models, a look at a listing does not."""
    return _seconds(TRANSFER_SECONDS_VARIABLE, TRANSFER_SECONDS_DEFAULT)


def _cannot_connect(exc: BaseException) -> bool:
    """A refused or dropped connection (builtin, botocore's or aiohttp's types): worth another try."""
    names = {kind.__name__ for kind in type(exc).__mro__}
    return isinstance(exc, ConnectionError) or bool(names & {"ConnectionError", "EndpointConnectionError"})


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _attempt(outcome: dict[str, Any], call: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    """One try of a bounded call, in its worker thread: its value or its error into `outcome`."""
    try:
        outcome["value"] = call(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
        outcome["error"] = exc


def bounded(where: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:  # noqa: ANN401 - any call's
    """`call(*args, **kwargs)` against the remote `where`, finished within remote_seconds() or a RemoteError.

    Why: a bucket that accepts a connection and never answers held `faceops forget` and the service's record
    threads for ever (botocore's own timeouts and retries add up to minutes). The call runs in a daemon thread
    (a hung one never holds the process at exit); one that cannot connect is tried again, with backoff, up to
    three times while time is left. Any other error is the call's own, raised as it is."""
    return _bounded(where, (remote_seconds(), REMOTE_SECONDS_VARIABLE), call, args, kwargs)


def bounded_transfer(where: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:  # noqa: ANN401
    """As `bounded`, for a call that moves data (a pull of a model's files): within transfer_seconds()."""
    return _bounded(where, (transfer_seconds(), TRANSFER_SECONDS_VARIABLE), call, args, kwargs)


def _bounded(where: str, bound: tuple[float, str], call: Callable[..., T], args: tuple, kwargs: dict) -> T:
    seconds, variable = bound
    deadline = time.monotonic() + seconds
    for attempt in range(1, _TRIES + 1):
        outcome: dict[str, Any] = {}
        worker = threading.Thread(
            target=_attempt, args=(outcome, call, args, kwargs), name="faceops-remote", daemon=True
        )
        worker.start()
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            raise RemoteError(f"{where} did not answer within {seconds:g} s ({variable})")
        if "error" not in outcome:
            return outcome["value"]
        error = outcome["error"]
        pause = min(0.5 * 2 ** (attempt - 1), max(0.0, deadline - time.monotonic()))
        if not _cannot_connect(error) or attempt == _TRIES or pause <= 0:
            break
        time.sleep(pause)
    if _cannot_connect(error):
        raise RemoteError(f"{where} cannot be reached after {attempt} tries: {_one_line(error)}") from None
    raise error


def transfer(command: str, *args: str, cwd: str | os.PathLike[str] = ".") -> subprocess.CompletedProcess:
    """`dvc push` or `dvc pull` (`command`) with ARGS, stopped with everything it started once it has run
    transfer_seconds(): a RemoteError naming the remote and the bound. Why: DVC's own S3 timeouts and retries
    leave a push to a bucket that accepts and never answers hanging for a very long time."""
    seconds = transfer_seconds()
    _require()
    try:
        return tools.run([sys.executable, "-m", "dvc", command, *args], cwd, seconds=seconds)
    except tools.DeadlineError:
        name = _named_remote(args) or default_remote(cwd)
        where = f"the DVC remote {name!r}" if name else "the DVC remote"
        towards = "to" if command == "push" else "from"
        raise RemoteError(
            f"`dvc {command}` {towards} {where} did not finish within {seconds:g} s ({TRANSFER_SECONDS_VARIABLE}); "
            "it was stopped"
        ) from None


def _named_remote(args: tuple[str, ...]) -> str:
    """The remote that `-r NAME` / `--remote NAME` in a dvc command's arguments names; "" for the default."""
    for flag, value in zip(args, args[1:]):
        if flag in ("-r", "--remote"):
            return value
    return ""


# -- the Python API ------------------------------------------------------------------------------------


class ObjectStore:
    """A DVC object database (the local cache, or a remote): objects by their md5 ("….dir" for listings).
    A remote's calls are bounded in time (`bounded`); `where` names it in their errors."""

    def __init__(self, odb: Any, where: str | None = None) -> None:  # noqa: ANN401 - dvc_data's HashFileDB
        self._odb = odb
        self._where = where

    def _call(self, call: Callable[..., T], *args: Any) -> T:  # noqa: ANN401 - any call's arguments
        return call(*args) if self._where is None else bounded(self._where, call, *args)

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
        own error, or a RemoteError."""
        return bool(self._call(self._odb.fs.exists, self._odb.path))

    def exists(self, oid: str) -> bool:
        return bool(self._call(self._odb.exists, oid))

    def path(self, oid: str) -> str:
        """The object's path in the store (a file on this machine, for the local cache)."""
        return self._odb.oid_to_path(oid)

    def read(self, oid: str) -> bytes:
        def whole() -> bytes:
            with self._odb.fs.open(self._odb.oid_to_path(oid), "rb") as handle:
                return handle.read()

        return self._call(whole)

    def delete(self, oid: str) -> None:
        self._call(self._odb.delete, oid)


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
        return ObjectStore(self._repo.cloud.get_remote_odb(name, command=command), f"the DVC remote {name!r}")

    def remote_fs(self, name: str) -> RemoteFs:
        remote = self._repo.cloud.get_remote(name)
        return RemoteFs(remote.fs.fs, str(remote.path), remote.fs.protocol)

    def pull(self, oids: Iterable[str]) -> None:
        """Objects from the default remote into the cache, by md5 (whatever the workspace holds), within
        transfer_seconds() or a RemoteError."""
        from dvc_data.hashfile.hash_info import HashInfo

        name = self.default_remote
        where = f"the DVC remote {name!r}" if name else "the default DVC remote"
        bounded_transfer(where, self._repo.cloud.pull, [HashInfo("md5", oid) for oid in oids])

    @property
    def run_cache(self) -> Path:
        return Path(self._repo.stage_cache.cache_dir)

    @property
    def site_cache(self) -> Path:
        """DVC's site cache folder for this project (its data index and hash state live there)."""
        return Path(self._repo.site_cache_dir)
