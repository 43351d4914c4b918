"""Key-student records in storage: the cadence of a contact, their own retention, and the
demo's key students."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from bot.app import App
from storage import demo, identity, keystudents
from storage.models import (
    CareContact,
    CareFollowUp,
    CareTag,
    HealthTrack,
    HealthTrackAnswer,
    Person,
)
from tests.conftest import TZ
from tests.handlers.people import rows

CATEGORIES = {"心理关注": 7, "未就业": 14}
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=TZ)


def student(app: App, number: str) -> Person:
    with app.uow(readonly=True) as s:
        person = identity.find_person(s, number)
        assert person is not None
        s.expunge(person)
        return person


def test_a_contact_is_due_by_the_tightest_cadence_from_the_tag_or_the_last_contact(
    app: App,
) -> None:
    pupil = student(app, "2020001")
    with app.uow() as s:
        actor = identity.actor_for_number(s, "T001")
        person = s.get(Person, pupil.id)
        assert person is not None
        keystudents.tag(s, actor, person, "未就业", NOW)
        keystudents.tag(s, actor, person, "心理关注", NOW)
    day = NOW.date()
    with app.uow(readonly=True) as s:
        assert keystudents.due_contacts(s, day + timedelta(days=6), CATEGORIES, TZ) == []
        [due] = keystudents.due_contacts(s, day + timedelta(days=7), CATEGORIES, TZ)
    assert (due.student.number, due.categories, due.due, due.last) == (
        "2020001",
        ("未就业", "心理关注"),
        day + timedelta(days=7),
        None,
    )
    with app.uow() as s:
        actor = identity.actor_for_number(s, "T001")
        person = s.get(Person, pupil.id)
        assert person is not None
        keystudents.record_contact(
            s,
            actor,
            person,
            keystudents.ContactInput("talk", day + timedelta(days=5), "电话", situation="好"),
            NOW,
        )
    with app.uow(readonly=True) as s:
        assert keystudents.due_contacts(s, day + timedelta(days=11), CATEGORIES, TZ) == []
        [due] = keystudents.due_contacts(s, day + timedelta(days=12), CATEGORIES, TZ)
    assert due.last == day + timedelta(days=5)


def test_care_records_are_purged_after_their_own_retention(app: App) -> None:
    pupil = student(app, "2020001")
    old, recent = NOW - timedelta(days=40), NOW - timedelta(days=5)
    with app.uow() as s:
        actor = identity.actor_for_number(s, "T001")
        person = s.get(Person, pupil.id)
        assert person is not None
        kept_tag = keystudents.tag(s, actor, person, "心理关注", old)
        gone_tag = keystudents.tag(s, actor, person, "未就业", old)
        gone_tag.removed_at = old
        keystudents.record_contact(
            s,
            actor,
            person,
            keystudents.ContactInput(
                "visit", old.date(), "视频", situation="旧", followups=((old.date(), "旧事项"),)
            ),
            old,
        )
        keystudents.record_contact(
            s,
            actor,
            person,
            keystudents.ContactInput(
                "visit", recent.date(), "视频", situation="新", followups=((NOW.date(), "新事项"),)
            ),
            recent,
        )
        ended = keystudents.start_track(s, person, source="staff", now=old)
        keystudents.record_answer(
            s,
            ended,
            day=old.date(),
            temp_tenths=372,
            symptoms=(),
            note=None,
            now=old,
            abnormal_tenths=373,
        )
        ended.closed_at = old
        kept_tag_id = kept_tag.id
    with app.uow() as s:
        gone = keystudents.purge(s, NOW, retention_days=30)
    assert gone == 5
    assert [t.id for t in rows(app, CareTag)] == [kept_tag_id]
    assert [c.situation for c in rows(app, CareContact)] == ["新"]
    assert [f.what for f in rows(app, CareFollowUp)] == ["新事项"]
    assert rows(app, HealthTrack) == [] and rows(app, HealthTrackAnswer) == []


def test_the_console_demo_has_two_key_students_and_a_psych_rep(app: App) -> None:
    with app.uow() as s:
        demo.seed_care(s, NOW)
    with app.uow(readonly=True) as s:
        rep = s.scalars(select(Person).where(Person.psych_rep.is_(True))).all()
        assert [
            (p.number, p.role, p.school_class.code if p.school_class else None) for p in rep
        ] == [("2020004", "student", "护理172")]
        numbers = {
            p.id: p.number for p in s.scalars(select(Person).where(Person.role == "student"))
        }
    tags = [(numbers[t.student_id], t.category) for t in rows(app, CareTag)]
    assert tags == [("2020012", "家庭经济困难"), ("2020015", "未就业")]
    contacts = [(numbers[c.student_id], c.kind, c.day) for c in rows(app, CareContact)]
    assert contacts == [
        ("2020012", "visit", date(2026, 11, 23)),
        ("2020015", "talk", date(2026, 11, 23)),
    ]


def test_an_over_long_text_is_refused_in_the_readers_language() -> None:
    import pytest

    from storage import keystudents
    from storage.errors import DomainError

    with pytest.raises(DomainError) as refused:
        keystudents.check_text("好" * (keystudents.MAX_TEXT + 1), "情况", "What was learned")
    limit = keystudents.MAX_TEXT
    assert refused.value.render("zh") == f"情况太长：最多 {limit} 个字。"
    assert (
        refused.value.render("en") == f"What was learned is too long: at most {limit} characters."
    )
