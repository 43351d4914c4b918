"""重点学生 files: tags with a contact cadence, 云家访 / 谈心谈话 logs with their follow-ups,
云跟踪 of unwell students, the timeline of one student, and the 帮扶台账.

These are the most sensitive records the bot holds: callers check who may read them
(storage.care_access) and audit every read; nothing here is ever meant for a group.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.texts import Catalogue, Text
from storage import xlsx
from storage.errors import DomainError, NotFound, OutOfScope, check_length
from storage.identity import Actor
from storage.ledger import Ledger, safe_text
from storage.models import (
    CareContact,
    CareFollowUp,
    CareTag,
    CheckInRevision,
    HealthTrack,
    HealthTrackAnswer,
    Person,
    Request,
    RequestEvent,
    Role,
    SchoolClass,
)

VISIT = "visit"
TALK = "talk"
KINDS = (VISIT, TALK)

# How a contact was made, and the words that name each mode.
MODES = ("视频", "电话", "微信", "面谈")
MODE_WORDS = {
    "视频": "视频",
    "video": "视频",
    "电话": "电话",
    "phone": "电话",
    "微信": "微信",
    "wechat": "微信",
    "面谈": "面谈",
    "当面": "面谈",
    "in-person": "面谈",
}

FROM_CHECKIN = "checkin"
FROM_STAFF = "staff"
FROM_LEAVE = "leave"

MAX_TEXT = 1000


class KeyStudentErrors(Catalogue):
    student = Text("学生 {number}", "Student {number}")
    participants = Text("参与人", "Who took part")
    situation = Text("情况", "What was learned")
    help_given = Text("帮扶", "Help given")
    followup = Text("跟进", "A follow-up")
    not_a_student = Text(
        "{number} 不是花名册上的学生。", "{number} is not a student on the roster."
    )
    unknown_category = Text(
        "没有「{category}」这个类别。可用的类别：{categories}",
        "There is no category “{category}”. The categories: {categories}",
    )
    already_tagged = Text(
        "{name}（{number}）已经标记为「{category}」。",
        "{name} ({number}) is already tagged “{category}”.",
    )
    not_tagged = Text(
        "{name}（{number}）没有「{category}」标记。",
        "{name} ({number}) is not tagged “{category}”.",
    )
    followup_done = Text("跟进事项 #{number} 已经完成了。", "Follow-up #{number} is already done.")
    already_tracking = Text(
        "{name}（{number}）已在云跟踪中（{since} 起）。",
        "{name} ({number}) is already followed daily (since {since}).",
    )
    not_tracking = Text(
        "{name}（{number}）没有进行中的云跟踪。",
        "{name} ({number}) is not under daily follow-up.",
    )
    no_track_of_mine = Text(
        "你现在没有需要每天报告的身体情况跟踪。平时的健康打卡请发送：打卡 <体温>",
        "You are not under daily follow-up. For the daily check-in send /checkin <temperature>.",
    )
    followup = Text("跟进事项 #{number}", "Follow-up #{number}")


class Refused(DomainError):
    """A key-student request the bot refuses, said with a catalogue text."""

    def __init__(self, text: Text, **params: Any) -> None:
        super().__init__(**params)
        self.refusal_text = text

    def render(self, lang: str) -> str:
        return self.refusal_text(lang, **self.params_in(lang))


class RefusedWithUsage(Refused):
    show_usage = True


# -- students and scope ----------------------------------------------------------------------


def student_in_scope(session: Session, actor: Actor, number: str) -> Person:
    """The roster student `number` is, if the asker's classes include theirs."""
    person = session.scalar(select(Person).where(Person.number == number))
    if person is None or not Role(person.role).is_student or person.class_id is None:
        raise RefusedWithUsage(KeyStudentErrors.not_a_student, number=number)
    T = KeyStudentErrors.student
    actor.require_class(person.class_id, T("zh", number=number), T("en", number=number))
    return person


def check_text(value: str, what: str, what_en: str) -> str:
    return check_length(value, what, what_en, MAX_TEXT)


# -- tags ------------------------------------------------------------------------------------


def active_tags(session: Session, student_id: int) -> list[CareTag]:
    return list(
        session.scalars(
            select(CareTag)
            .where(CareTag.student_id == student_id, CareTag.removed_at.is_(None))
            .order_by(CareTag.id)
        )
    )


def require_category(category: str, categories: Mapping[str, int]) -> str:
    if category not in categories:
        raise RefusedWithUsage(
            KeyStudentErrors.unknown_category, category=category, categories="、".join(categories)
        )
    return category


def tag(session: Session, actor: Actor, student: Person, category: str, now: datetime) -> CareTag:
    if any(t.category == category for t in active_tags(session, student.id)):
        raise Refused(
            KeyStudentErrors.already_tagged,
            name=student.name,
            number=student.number,
            category=category,
        )
    row = CareTag(
        student_id=student.id, category=category, tagged_by=actor.person_id, tagged_at=now
    )
    session.add(row)
    session.flush()
    return row


def untag(session: Session, actor: Actor, student: Person, category: str, now: datetime) -> CareTag:
    row = next((t for t in active_tags(session, student.id) if t.category == category), None)
    if row is None:
        raise Refused(
            KeyStudentErrors.not_tagged, name=student.name, number=student.number, category=category
        )
    row.removed_at = now
    row.removed_by = actor.person_id
    session.flush()
    return row


# -- contacts and follow-ups -----------------------------------------------------------------


@dataclass(frozen=True)
class ContactInput:
    kind: str
    day: date
    mode: str
    participants: str = ""
    situation: str = ""
    help_given: str = ""
    # (due, what) of each follow-up promised.
    followups: tuple[tuple[date, str], ...] = ()


def record_contact(
    session: Session, actor: Actor, student: Person, data: ContactInput, now: datetime
) -> tuple[CareContact, list[CareFollowUp]]:
    for value, what in (
        (data.participants, KeyStudentErrors.participants),
        (data.situation, KeyStudentErrors.situation),
        (data.help_given, KeyStudentErrors.help_given),
        *((w, KeyStudentErrors.followup) for _, w in data.followups),
    ):
        check_text(value, *what.pair)
    contact = CareContact(
        student_id=student.id,
        kind=data.kind,
        day=data.day,
        mode=data.mode,
        participants=data.participants,
        situation=data.situation,
        help_given=data.help_given,
        recorded_by=actor.person_id,
        recorded_at=now,
    )
    session.add(contact)
    session.flush()
    followups = [
        CareFollowUp(
            student_id=student.id,
            contact_id=contact.id,
            due=due,
            what=what,
            created_by=actor.person_id,
            created_at=now,
        )
        for due, what in data.followups
    ]
    session.add_all(followups)
    session.flush()
    return contact, followups


def finish_followup(session: Session, actor: Actor, number: int, now: datetime) -> CareFollowUp:
    row = session.get(CareFollowUp, number)
    label = KeyStudentErrors.followup
    if row is None:
        raise NotFound(what=label("zh", number=number), what_en=label("en", number=number))
    student = session.get(Person, row.student_id)
    assert student is not None
    if student.class_id is None or not actor.covers_class(student.class_id):
        raise OutOfScope(what=label("zh", number=number), what_en=label("en", number=number))
    if row.done_at is not None:
        raise Refused(KeyStudentErrors.followup_done, number=number)
    row.done_at = now
    row.done_by = actor.person_id
    session.flush()
    return row


# -- 云跟踪 ------------------------------------------------------------------------------------


def open_track(session: Session, student_id: int) -> HealthTrack | None:
    return session.scalar(
        select(HealthTrack).where(
            HealthTrack.student_id == student_id, HealthTrack.closed_at.is_(None)
        )
    )


def start_track(
    session: Session,
    student: Person,
    *,
    source: str,
    now: datetime,
    opened_by: int | None = None,
    base_temp_tenths: int | None = None,
    base_symptoms: Collection[str] = (),
) -> HealthTrack:
    assert student.class_id is not None
    track = HealthTrack(
        student_id=student.id,
        class_id=student.class_id,
        source=source,
        base_temp_tenths=base_temp_tenths,
        base_symptoms="、".join(base_symptoms),
        opened_by=opened_by,
        opened_at=now,
    )
    session.add(track)
    session.flush()
    return track


def end_track(session: Session, actor: Actor, student: Person, now: datetime) -> HealthTrack:
    track = open_track(session, student.id)
    if track is None:
        raise Refused(KeyStudentErrors.not_tracking, name=student.name, number=student.number)
    track.closed_at = now
    track.closed_by = actor.person_id
    session.flush()
    return track


def answers(session: Session, track_id: int) -> list[HealthTrackAnswer]:
    return list(
        session.scalars(
            select(HealthTrackAnswer)
            .where(HealthTrackAnswer.track_id == track_id)
            .order_by(HealthTrackAnswer.id)
        )
    )


def record_answer(
    session: Session,
    track: HealthTrack,
    *,
    day: date,
    temp_tenths: int,
    symptoms: Collection[str],
    note: str | None,
    now: datetime,
    abnormal_tenths: int,
) -> HealthTrackAnswer:
    """Store one answer; it is worse when its temperature is higher or it names a symptom
    not seen before in this follow-up (with nothing before it: when it is abnormal)."""
    earlier = answers(session, track.id)
    temps = [a.temp_tenths for a in earlier]
    seen = {s for a in earlier for s in a.symptoms.split("、") if s}
    if track.base_temp_tenths is not None:
        temps.append(track.base_temp_tenths)
    seen.update(s for s in track.base_symptoms.split("、") if s)
    new_symptoms = set(symptoms) - seen
    if temps or seen:
        worse = bool(new_symptoms) or (bool(temps) and temp_tenths > max(temps))
    else:
        worse = temp_tenths >= abnormal_tenths or bool(symptoms)
    answer = HealthTrackAnswer(
        track_id=track.id,
        day=day,
        temp_tenths=temp_tenths,
        symptoms="、".join(symptoms),
        note=note,
        worse=worse,
        answered_at=now,
    )
    session.add(answer)
    session.flush()
    return answer


def tracks_to_prompt(session: Session, day: date) -> list[tuple[HealthTrack, Person]]:
    """Open follow-ups whose student has not answered today, by student number."""
    answered = select(HealthTrackAnswer.track_id).where(HealthTrackAnswer.day == day)
    rows = session.execute(
        select(HealthTrack, Person)
        .join(Person, Person.id == HealthTrack.student_id)
        .where(
            HealthTrack.closed_at.is_(None),
            HealthTrack.id.not_in(answered),
            Person.active.is_(True),
        )
        .order_by(Person.number)
    )
    return [(t, p) for t, p in rows]


# -- reminders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueContact:
    """A tagged student whose next contact is due (or overdue) by the tightest cadence."""

    student: Person
    categories: tuple[str, ...]
    due: date
    last: date | None


@dataclass(frozen=True)
class DueFollowUp:
    followup: CareFollowUp
    student: Person


def due_contacts(
    session: Session, today: date, categories: Mapping[str, int], tz: ZoneInfo
) -> list[DueContact]:
    tags: dict[int, list[CareTag]] = {}
    for t in session.scalars(
        select(CareTag).where(CareTag.removed_at.is_(None)).order_by(CareTag.id)
    ):
        tags.setdefault(t.student_id, []).append(t)
    if not tags:
        return []
    last: dict[int, date] = {}
    for sid, day in session.execute(
        select(CareContact.student_id, CareContact.day).where(CareContact.student_id.in_(tags))
    ):
        last[sid] = max(day, last.get(sid, day))
    people = {
        p.id: p
        for p in session.scalars(select(Person).where(Person.id.in_(tags), Person.active.is_(True)))
    }
    out = []
    for sid, rows in tags.items():
        if sid not in people:
            continue
        cadence = min(categories.get(t.category, 14) for t in rows)
        start = last.get(sid) or min(t.tagged_at.astimezone(tz).date() for t in rows)
        due = start + timedelta(days=cadence)
        if due <= today:
            out.append(DueContact(people[sid], tuple(t.category for t in rows), due, last.get(sid)))
    return sorted(out, key=lambda d: (d.due, d.student.number))


def due_followups(session: Session, today: date) -> list[DueFollowUp]:
    rows = session.execute(
        select(CareFollowUp, Person)
        .join(Person, Person.id == CareFollowUp.student_id)
        .where(CareFollowUp.done_at.is_(None), CareFollowUp.due <= today, Person.active.is_(True))
        .order_by(CareFollowUp.due, CareFollowUp.id)
    )
    return [DueFollowUp(f, p) for f, p in rows]


def open_followups(session: Session, student_id: int) -> list[CareFollowUp]:
    return list(
        session.scalars(
            select(CareFollowUp)
            .where(CareFollowUp.student_id == student_id, CareFollowUp.done_at.is_(None))
            .order_by(CareFollowUp.due, CareFollowUp.id)
        )
    )


# -- the timeline (档案) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One line of a student's file: when, what kind of event, and its parts."""

    at: datetime
    kind: str
    parts: dict[str, Any] = field(default_factory=dict)


def timeline(session: Session, student_id: int) -> list[Entry]:
    """Tags, contacts, follow-ups, 云跟踪, leaves, abnormal check-ins and subsidy decisions."""
    out: list[Entry] = []
    for t in session.scalars(select(CareTag).where(CareTag.student_id == student_id)):
        out.append(Entry(t.tagged_at, "tag", {"category": t.category}))
        if t.removed_at is not None:
            out.append(Entry(t.removed_at, "untag", {"category": t.category}))
    for c in session.scalars(select(CareContact).where(CareContact.student_id == student_id)):
        out.append(
            Entry(
                c.recorded_at,
                c.kind,
                {
                    "day": c.day,
                    "mode": c.mode,
                    "participants": c.participants,
                    "situation": c.situation,
                    "help": c.help_given,
                },
            )
        )
    for f in session.scalars(select(CareFollowUp).where(CareFollowUp.student_id == student_id)):
        out.append(
            Entry(
                f.created_at,
                "followup",
                {"number": f.id, "due": f.due, "what": f.what, "done": f.done_at is not None},
            )
        )
    for track in session.scalars(select(HealthTrack).where(HealthTrack.student_id == student_id)):
        out.append(Entry(track.opened_at, "track", {"source": track.source}))
        for a in answers(session, track.id):
            out.append(
                Entry(
                    a.answered_at,
                    "answer",
                    {"temp": a.temp_tenths, "symptoms": a.symptoms, "worse": a.worse},
                )
            )
        if track.closed_at is not None:
            out.append(Entry(track.closed_at, "recovered", {}))
    for r in session.scalars(
        select(Request).where(Request.student_id == student_id, Request.kind == "leave")
    ):
        out.append(
            Entry(
                r.created_at,
                "leave",
                {
                    "number": r.number,
                    "type": r.payload.get("type", ""),
                    "start": r.starts_on,
                    "end": r.ends_on,
                    "status": r.status,
                },
            )
        )
    for rev in session.scalars(
        select(CheckInRevision).where(
            CheckInRevision.student_id == student_id, CheckInRevision.abnormal.is_(True)
        )
    ):
        out.append(
            Entry(rev.submitted_at, "abnormal", {"temp": rev.temp_tenths, "symptoms": rev.symptoms})
        )
    for e, number in session.execute(
        select(RequestEvent, Request.number)
        .join(Request, Request.id == RequestEvent.request_id)
        .where(
            Request.student_id == student_id,
            Request.kind == "subsidy",
            RequestEvent.action.in_(("approve", "reject")),
        )
    ):
        out.append(Entry(e.at, "subsidy", {"number": number, "action": e.action}))
    return sorted(out, key=lambda e: e.at)


# -- 帮扶台账 ----------------------------------------------------------------------------------


class CareLedgerTexts(Catalogue):
    filename = Text("帮扶台账-{label}-{day}.xlsx", "care-ledger-{label}-{day}.xlsx")
    contacts_sheet = Text("家访谈话", "Contacts")
    tags_sheet = Text("重点学生", "Key students")
    number = Text("学号", "Student id")
    name = Text("姓名", "Name")
    class_code = Text("班级", "Class")
    categories = Text("类别", "Categories")
    kind = Text("类型", "Type")
    day = Text("日期", "Date")
    mode = Text("方式", "Mode")
    participants = Text("参与人", "Who took part")
    situation = Text("了解情况", "What was learned")
    help_given = Text("帮扶措施", "Help given")
    followups = Text("跟进事项", "Follow-ups")
    tagged_on = Text("建档日期", "Tagged on")
    last_contact = Text("最近联系", "Last contact")
    visit = Text("家访", "Home visit")
    talk = Text("谈话", "Talk")
    done = Text("已完成", "done")
    open = Text("未完成", "open")


def tagged_or_contacted(session: Session, class_ids: Collection[int] | None) -> list[int]:
    """Students of these classes (None: every class) with a tag or a contact log, by number."""
    with_records = (
        select(CareTag.student_id)
        .where(CareTag.removed_at.is_(None))
        .union(select(CareContact.student_id))
    )
    stmt = select(Person.id).where(Person.id.in_(with_records)).order_by(Person.number)
    if class_ids is not None:
        stmt = stmt.where(Person.class_id.in_(list(class_ids)))
    return list(session.scalars(stmt))


def build_ledger(
    session: Session, student_ids: Collection[int], label: str, today: date, tz: ZoneInfo, lang: str
) -> Ledger:
    """The 帮扶台账 of some students: one sheet of key students, one of contacts."""
    T = CareLedgerTexts
    students = {
        p.id: (p, code)
        for p, code in session.execute(
            select(Person, SchoolClass.code)
            .join(SchoolClass, SchoolClass.id == Person.class_id)
            .where(Person.id.in_(list(student_ids)))
        )
    }
    tags: dict[int, list[CareTag]] = {}
    for t in session.scalars(
        select(CareTag)
        .where(CareTag.removed_at.is_(None), CareTag.student_id.in_(list(students)))
        .order_by(CareTag.id)
    ):
        tags.setdefault(t.student_id, []).append(t)
    contacts = list(
        session.scalars(
            select(CareContact)
            .where(CareContact.student_id.in_(list(students)))
            .order_by(CareContact.day, CareContact.id)
        )
    )
    followups: dict[int, list[CareFollowUp]] = {}
    for f in session.scalars(
        select(CareFollowUp)
        .where(CareFollowUp.contact_id.in_([c.id for c in contacts]))
        .order_by(CareFollowUp.id)
    ):
        assert f.contact_id is not None
        followups.setdefault(f.contact_id, []).append(f)
    last: dict[int, date] = {}
    for c in contacts:
        last[c.student_id] = c.day
    wb = xlsx.Workbook()
    rows = 0
    sheet = wb.add_sheet(
        T.tags_sheet(lang),
        [
            T.class_code(lang),
            T.number(lang),
            T.name(lang),
            T.categories(lang),
            T.tagged_on(lang),
            T.last_contact(lang),
        ],
        [12, 12, 10, 24, 12, 12],
    )
    for sid in sorted(tags, key=lambda s: (students[s][1], students[s][0].number)):
        person, code = students[sid]
        sheet.append(
            [
                safe_text(code),
                safe_text(person.number),
                safe_text(person.name),
                safe_text("、".join(t.category for t in tags[sid])),
                min(t.tagged_at for t in tags[sid]).astimezone(tz).date(),
                last.get(sid),
            ]
        )
        rows += 1
    sheet = wb.add_sheet(
        T.contacts_sheet(lang),
        [
            T.class_code(lang),
            T.number(lang),
            T.name(lang),
            T.kind(lang),
            T.day(lang),
            T.mode(lang),
            T.participants(lang),
            T.situation(lang),
            T.help_given(lang),
            T.followups(lang),
        ],
        [12, 12, 10, 8, 12, 8, 20, 40, 30, 40],
    )
    for c in contacts:
        person, code = students[c.student_id]
        fus = "；".join(
            f"#{f.id} {f.due:%m-%d} {f.what}（{(T.done if f.done_at else T.open)(lang)}）"
            for f in followups.get(c.id, [])
        )
        sheet.append(
            [
                safe_text(code),
                safe_text(person.number),
                safe_text(person.name),
                (T.visit if c.kind == VISIT else T.talk)(lang),
                c.day,
                safe_text(c.mode),
                safe_text(c.participants),
                safe_text(c.situation),
                safe_text(c.help_given),
                safe_text(fus),
            ]
        )
        rows += 1
    content = wb.save()
    return Ledger(T.filename(lang, label=label, day=f"{today:%Y-%m-%d}"), content, rows)


# -- retention -------------------------------------------------------------------------------


def purge(session: Session, now: datetime, retention_days: int) -> int:
    """Delete removed tags, contacts (with their follow-ups), done follow-ups and ended
    云跟踪 older than the retention; returns how many rows went."""
    cutoff = now - timedelta(days=retention_days)
    gone = 0
    for stmt in (
        delete(CareTag).where(CareTag.removed_at.is_not(None), CareTag.removed_at < cutoff),
        delete(CareFollowUp).where(
            CareFollowUp.done_at.is_not(None), CareFollowUp.done_at < cutoff
        ),
        delete(CareFollowUp).where(
            CareFollowUp.contact_id.in_(
                select(CareContact.id).where(CareContact.recorded_at < cutoff)
            )
        ),
        delete(CareContact).where(CareContact.recorded_at < cutoff),
        delete(HealthTrackAnswer).where(
            HealthTrackAnswer.track_id.in_(
                select(HealthTrack.id).where(
                    HealthTrack.closed_at.is_not(None), HealthTrack.closed_at < cutoff
                )
            )
        ),
        delete(HealthTrack).where(
            HealthTrack.closed_at.is_not(None), HealthTrack.closed_at < cutoff
        ),
    ):
        gone += session.execute(stmt).rowcount or 0  # type: ignore[attr-defined]
    return gone
