"""The live model of the web process: the one that loaded last, swapped for a new one only once that one loads.

The holder watches the model file and its card; when they change it loads the new pair from a private copy.
Only a pair that loads becomes live; one that does not leaves the last good model serving and /health
`degraded` with the reason (a half-written or broken model never reaches a user).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from faceops.core.errors import FaceopsError
from faceops.model.card import ModelCard, card_path
from faceops.model.metrics import EvaluationMetrics

log = logging.getLogger(__name__)

KEPT_COPIES = 3  # live model copies kept: requests already queued may still name the previous ones


@dataclass(frozen=True)
class LiveModel:
    """A model that loaded: its private copy (what workers load) and its card."""

    path: Path
    card: ModelCard

    @property
    def version(self) -> str:
        return self.card.version


class ModelHolder:
    """The live model and the service's health; swaps in a new model only once it has loaded."""

    def __init__(self, model_path: str | os.PathLike[str], metrics_path: str | os.PathLike[str] | None = None) -> None:
        self.model_path = Path(model_path)
        self.metrics_path = Path(metrics_path) if metrics_path else None
        self.copies = Path(tempfile.mkdtemp(prefix="faceops-serve-"))
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self.live: LiveModel | None = None
        self.problem: str | None = None  # why the model on disk is not the live one
        self._count = 0

    def _disk_stamp(self) -> tuple:
        files = (self.model_path, card_path(self.model_path))
        return tuple((f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None for f in files)

    def changed(self) -> bool:
        return self._disk_stamp() != self._stamp

    def refresh(self, force: bool = False) -> LiveModel:
        """Load the model on disk if it changed since the last look; the live model if it cannot be loaded."""
        with self._lock:
            stamp = self._disk_stamp()
            if force or stamp != self._stamp or self.live is None:
                self._stamp = stamp
                try:
                    self.live, self.problem = self._load_copy(), None
                    people = len(self.live.card.labels)
                    log.info("live: %s version %s, %d people", self.model_path, self.version, people)
                except FaceopsError as exc:
                    self.problem = str(exc)
                    if self.live is None:
                        raise
                    log.error("%s; still serving version %s", exc, self.version)
            return self.live

    async def current(self) -> LiveModel:
        """The live model, after loading a new one from disk in a thread if it changed (never on the event loop)."""
        from starlette.concurrency import run_in_threadpool

        if self.changed():
            return await run_in_threadpool(self.refresh)
        return self.live

    def _load_copy(self) -> LiveModel:
        """Copy the pair (so that a promotion under way cannot mix files), check that it loads, keep it."""
        from faceops.model.recogniser import Recogniser, check_model_file

        self._count += 1
        folder = self.copies / str(self._count)
        folder.mkdir()
        try:
            for source in (self.model_path, card_path(self.model_path)):
                check_model_file(source)  # a regular file under a size cap: never copy a device until the disk is full
                shutil.copy2(source, folder / source.name)
            if self._disk_stamp() != self._stamp:
                raise FaceopsError(f"{self.model_path}: changed while it was read; trying again on the next request")
            try:
                recogniser = Recogniser.load(folder / self.model_path.name)
            except FaceopsError as exc:  # name the files on disk, not our private copy
                raise FaceopsError(str(exc).replace(str(folder), str(self.model_path.parent))) from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        for old in sorted(self.copies.iterdir(), key=lambda p: int(p.name))[:-KEPT_COPIES]:
            shutil.rmtree(old, ignore_errors=True)
        return LiveModel(folder / self.model_path.name, recogniser.card)

    @property
    def version(self) -> str:
        return self.live.version if self.live else ""

    def health(self) -> dict:
        if self.problem is None:
            return {"status": "ok", "model_version": self.version}
        return {"status": "degraded", "model_version": self.version, "reason": self.problem}

    def info(self) -> dict:
        card = self.live.card
        metrics = None
        if self.metrics_path and self.metrics_path.exists():
            metrics = EvaluationMetrics.read(self.metrics_path).to_dict()
        return {
            "version": self.version,
            "labels": list(card.labels),
            "backbone": card.backbone,
            "weights": card.weights_description,
            "image_size": card.image_size,
            "unknown_threshold": card.open_set.threshold,
            "metrics": metrics,
            **({"status": "degraded", "reason": self.problem} if self.problem else {"status": "ok"}),
        }

    def close(self) -> None:
        shutil.rmtree(self.copies, ignore_errors=True)

    @classmethod
    def loaded(cls, model_path: str | os.PathLike[str], metrics_path: str | os.PathLike[str] | None) -> ModelHolder:
        """A holder with its first model live: the service fails at start, with a clear message, without one."""
        holder = cls(model_path, metrics_path)
        try:
            holder.refresh()
        except BaseException:
            holder.close()
            raise
        return holder
