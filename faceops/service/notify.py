"""What the service tells other systems as it works: the events of faceops.records.events, from the routes.

A recognition (one event per photo), a verdict given through /feedback, and a new live model (a promotion or a
rollback, seen on the first request after it, as the service takes it live). Before anything goes out, the people
being forgotten are masked as the answer masks them (`unknown`), and only the people the live model may name are
announced (Home Assistant's sensors), so a forgotten person is never published and their sensor is removed.
Publishing only queues: it never delays or fails the answer.
"""

from __future__ import annotations

import logging

from faceops.people.forgotten import unfinished
from faceops.records.drift import UNKNOWN
from faceops.records.events import EventPublisher
from faceops.service.holder import LiveModel

log = logging.getLogger(__name__)

FACE_FIELDS = ("name", "confidence", "distance", "box")  # not the feedback id


def hidden_people(model: LiveModel) -> set[str]:
    """People no answer names: a forget under way, or done and recorded in the live model's card."""
    return unfinished() | set(model.card.forgotten)


class Notifier:
    """The service's events, published through `publisher` (off: no sinks)."""

    def __init__(self, publisher: EventPublisher | None = None) -> None:
        self.publisher = publisher or EventPublisher()
        self.version: str | None = None  # the live model last told
        self.people: tuple[str, ...] | None = None  # the people last announced

    def start(self, model: LiveModel) -> None:
        """Connect the sinks and tell them the live model and its people."""
        if self.publisher.enabled:
            self.publisher.start()
            self.live(model, hidden_people(model))

    def live(self, model: LiveModel, hidden: set[str]) -> None:
        """Announce the people `model` may name, when they changed; a `model` event when the version changed."""
        if not self.publisher.enabled:
            return
        people = tuple(sorted(set(model.card.labels) - hidden))
        if people != self.people:
            self.people = people
            self.publisher.announce(people)
        if model.version != self.version:
            previous, self.version = self.version, model.version
            self.publisher.publish(
                "model", version=model.version, previous=previous, backbone=model.card.backbone, people=len(people)
            )

    def recognition(self, model: LiveModel, hidden: set[str], answer: dict) -> None:
        """One photo's answer (its faces already masked with `hidden`)."""
        if not self.publisher.enabled:
            return
        try:
            self.live(model, hidden)
            faces = [{key: face[key] for key in FACE_FIELDS if key in face} for face in answer["faces"]]
            faces = [{**face, "name": UNKNOWN} if face["name"] in hidden else face for face in faces]  # twice safe
            self.publisher.publish(
                "recognition",
                model_version=model.version,
                faces=faces,
                named=sorted({face["name"] for face in faces if face["name"] != UNKNOWN}),
                unknown=sum(face["name"] == UNKNOWN for face in faces),
            )
        except Exception:  # an event is never worth an answer
            log.exception("could not publish a recognition event")

    def feedback(self, face_id: str, verdict: str, person: str) -> None:
        """A verdict on a face (`person` is one the service may name: /feedback refuses the forgotten)."""
        self.publisher.publish("feedback", id=face_id, verdict=verdict, person=person)

    def close(self) -> None:
        self.publisher.close()
