"""Consent to the privacy notice (PIPL Art. 29): recorded per person, with its version and time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.texts import Catalogue, Text
from storage import audit
from storage.errors import NotFound
from storage.identity import Actor
from storage.models import Person


class ConsentTexts(Catalogue):
    person_number = Text("人员 {number}", "Person {number}")


def has_consent(person: Person | Actor, notice_version: int) -> bool:
    """Whether the person agreed to this notice version (or a later one)."""
    return (person.consent_version or 0) >= notice_version


def agree(session: Session, actor: Actor, notice_version: int, now: datetime) -> bool:
    """Record consent to `notice_version`; False when it was already on record."""
    person = _person(session, actor)
    if has_consent(person, notice_version):
        return False
    person.consent_version = notice_version
    person.consent_at = now
    audit.record(
        session,
        at=now,
        actor=actor,
        action="consent",
        target=f"person:{person.number}",
        to_state=f"v{notice_version}",
    )
    return True


def withdraw(session: Session, actor: Actor, now: datetime) -> bool:
    """Withdraw consent; False when there was none on record."""
    person = _person(session, actor)
    if person.consent_version is None:
        return False
    previous = person.consent_version
    person.consent_version = None
    # The withdrawal time is in the audit log.
    person.consent_at = None
    audit.record(
        session,
        at=now,
        actor=actor,
        action="consent_withdrawn",
        target=f"person:{person.number}",
        from_state=f"v{previous}",
    )
    return True


def _person(session: Session, actor: Actor) -> Person:
    person = session.get(Person, actor.person_id)
    if person is None:
        raise NotFound(what=ConsentTexts.person_number.bind(number=actor.number))
    return person
