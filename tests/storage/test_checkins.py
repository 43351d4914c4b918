"""Check-ins stored many per statement: each one's revision, sticky flag and class count as
if they had been stored one after another, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import checkins, demo
from storage.checkins import CheckInInput
from storage.db import make_engine, make_sessionmaker, unit_of_work
from storage.models import CheckIn, CheckInRevision, Person, SchoolClass

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
DAY = date(2026, 11, 24)


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    with unit_of_work(make_sessionmaker(engine)) as s:
        demo.seed(s, NOW, platforms=("test",))
        yield s
    engine.dispose()


def students(session: Session, code: str) -> list[tuple[int, int]]:
    """(person id, class id) of a class's students, in 学号 order."""
    return [
        (pid, cid)
        for pid, cid in session.execute(
            select(Person.id, Person.class_id)
            .join(SchoolClass, SchoolClass.id == Person.class_id)
            .where(SchoolClass.code == code)
            .order_by(Person.number)
        )
        if cid is not None
    ]


def reading(student: tuple[int, int], temp: int = 365, day: date = DAY) -> CheckInInput:
    return CheckInInput(
        student_id=student[0],
        class_id=student[1],
        day=day,
        temp_tenths=temp,
        symptoms=("发烧",) if temp >= 373 else (),
        city=None,
        note=None,
        abnormal=temp >= 373,
        late=False,
        submitted_at=NOW,
        platform="test",
    )


def test_each_check_in_of_a_batch_counts_its_class_as_it_stood_after_it(
    session: Session,
) -> None:
    nursing = students(session, "护理172")
    lab = students(session, "检验172")
    checkins.record(session, reading(nursing[0]))
    group = ("test", "护理172")
    stored = checkins.record_many(
        session,
        [
            (reading(nursing[1]), group),
            (reading(lab[0]), ("test", "检验172")),
            (reading(nursing[0], 380), group),  # a second one today: replaces, not counted
            (reading(nursing[2]), None),
            (reading(lab[1]), group),  # posted in the other class's group
        ],
    )
    assert [(s.revision, s.done, s.roster) for s in stored] == [
        (1, 2, len(nursing)),
        (1, 1, len(lab)),
        (2, 2, len(nursing)),
        (1, 3, len(nursing)),
        (1, 2, len(lab)),
    ]
    assert [s.abnormal_today for s in stored] == [False, False, True, False, False]
    nursing_id, lab_id = nursing[0][1], lab[0][1]
    assert [s.group_class_id for s in stored] == [nursing_id, lab_id, nursing_id, None, nursing_id]
    assert session.scalar(select(func.count()).select_from(CheckIn)) == 5
    # Every submission is kept: the replaced one too.
    assert session.scalar(select(func.count()).select_from(CheckInRevision)) == 6
    current = session.scalar(select(CheckIn).where(CheckIn.student_id == nursing[0][0]))
    assert current is not None and current.temp_tenths == 380 and current.abnormal_today
    assert checkins.class_progress(session, nursing_id, DAY) == (3, len(nursing))


def test_a_later_normal_reading_in_a_batch_keeps_the_day_abnormal(session: Session) -> None:
    [first, *_] = students(session, "护理172")
    checkins.record(session, reading(first, 385))
    [stored] = checkins.record_many(session, [(reading(first, 366), None)])
    assert stored.revision == 2 and stored.abnormal_today and stored.replaced


def test_a_batch_larger_than_one_statement_is_stored_whole(session: Session) -> None:
    nursing = students(session, "护理172")
    days = [date(2026, 11, d) for d in range(1, 21)]
    entries = [(reading(s, day=d), None) for d in days for s in nursing]
    assert len(entries) > checkins.BATCH
    stored = checkins.record_many(session, entries)
    assert len(stored) == len(entries)
    # Counted per class and day: each day's last check-in sees the whole class.
    assert {s.done for s in stored[len(nursing) - 1 :: len(nursing)]} == {len(nursing)}
    assert session.scalar(select(func.count()).select_from(CheckIn)) == len(entries)


def test_one_student_twice_in_a_batch_is_refused_and_nothing_is_stored(
    session: Session,
) -> None:
    [first, second, *_] = students(session, "护理172")
    with pytest.raises(ValueError, match="one check-in per student and day"):
        checkins.record_many(
            session, [(reading(first), None), (reading(second), None), (reading(first), None)]
        )
    assert session.scalar(select(func.count()).select_from(CheckIn)) == 0
    assert checkins.record_many(session, []) == []
