"""The campaign engine: "everyone in this audience answers by T", declared once per kind.

A `CampaignKind` names its id prefix (C for collections, N for notices; the built-in daily
health check-in has none), its nouns, its period, how non-responders are reminded, whether
a class with nothing to report is still listed (a zero report), its retention and its ledger
sheet. A campaign instance (table `campaigns`) holds a title, a response form, an audience,
an open time and a deadline. Responses are read through a `ResponseStore`: the health
check-in's store reads the `checkins` table, every other kind's reads `campaign_responses`
(one current response per campaign, period and person, each version kept).

The reminders, the non-responders and the class → college → school roll-up are written
here once, as one set-based statement over every class of a scope.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, delete, exists, func, insert, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from bot.texts import Catalogue, Text
from storage.db import rows_affected
from storage.errors import NotFound
from storage.forms import Form
from storage.models import (
    Campaign,
    CampaignResponse,
    CampaignResponseRevision,
    CheckIn,
    College,
    GroupChat,
    Person,
    RequestCounter,
    Role,
    SchoolClass,
    StaffAssignment,
)
from storage.requests import parse_ref, prefix_of

if TYPE_CHECKING:
    from bot.texts import Text

STUDENT_ROLES = (Role.STUDENT.value, Role.MONITOR.value)
OPEN = "open"
CLOSED = "closed"


class Period(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    ONCE = "once"


class Reminders(enum.StrEnum):
    # Non-responders @-mentioned by name in their class group, and listed privately to staff.
    GROUP = "group"
    # Sensitive kinds: the list goes to staff privately, nothing is said in a group.
    PRIVATE = "private"


def period_key(period: Period | str, day: date) -> str:
    """The period a local day falls in: the day, its ISO week, or the campaign's one period."""
    if period == Period.DAILY:
        return day.isoformat()
    if period == Period.WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == Period.MONTHLY:
        return f"{day:%Y-%m}"
    return "once"


# -- response stores ---------------------------------------------------------------------


class ResponseStore(Protocol):
    """Where a kind's responses live; the engine only asks who has answered."""

    def answered(self, campaign_id: int | None, key: str, person: Any) -> ColumnElement[bool]:
        """True where `person` (a people.id column) has a current response in this period."""
        ...

    def counts(
        self, session: Session, campaign_id: int | None, key: str, class_ids: Collection[int] | None
    ) -> dict[int, int]:
        """Responders per class (grouped in the database)."""
        ...


class CampaignResponses:
    """The store of every campaign but the check-in: table `campaign_responses`."""

    def answered(self, campaign_id: int | None, key: str, person: Any) -> ColumnElement[bool]:
        return exists().where(
            CampaignResponse.campaign_id == campaign_id,
            CampaignResponse.period_key == key,
            CampaignResponse.person_id == person,
        )

    def counts(
        self, session: Session, campaign_id: int | None, key: str, class_ids: Collection[int] | None
    ) -> dict[int, int]:
        rows = session.execute(
            select(CampaignResponse.class_id, func.count())
            .join(Person, Person.id == CampaignResponse.person_id)
            .where(
                CampaignResponse.campaign_id == campaign_id,
                CampaignResponse.period_key == key,
                Person.active.is_(True),
                _in(CampaignResponse.class_id, class_ids),
            )
            .group_by(CampaignResponse.class_id)
        )
        return {int(cid): int(n) for cid, n in rows}


class CheckInResponses:
    """The health check-in's store: its hot path keeps the `checkins` table and its columns."""

    def answered(self, campaign_id: int | None, key: str, person: Any) -> ColumnElement[bool]:
        return exists().where(CheckIn.student_id == person, CheckIn.day == date.fromisoformat(key))

    def counts(
        self, session: Session, campaign_id: int | None, key: str, class_ids: Collection[int] | None
    ) -> dict[int, int]:
        rows = session.execute(
            select(CheckIn.class_id, func.count())
            .join(Person, Person.id == CheckIn.student_id)
            .where(
                CheckIn.day == date.fromisoformat(key),
                Person.active.is_(True),
                _in(CheckIn.class_id, class_ids),
            )
            .group_by(CheckIn.class_id)
        )
        return {int(cid): int(n) for cid, n in rows}


# -- declarations ------------------------------------------------------------------------


class CampaignTexts(Catalogue):
    """The campaign engine's reminders and roll-ups, for every kind."""

    private_reminder = Text(
        "⏰ {title}（{ref}）将于 {deadline} 截止，你还没有{verb}，请私聊我{verb}。",
        "⏰ {title} ({ref}) is due {deadline} and you have yet to {verb}: please do it here.",
    )
    private_due = Text(
        "⏰ {title}（{ref}）已截止，你没有{verb}。如有困难请联系辅导员。",
        "⏰ {title} ({ref}) is past its deadline and you did not {verb}. "
        "If something is in the way, tell your counselor.",
    )
    group_reminder = Text(
        "⏰ {title}（{ref}）将于 {deadline} 截止，还有 {count} 位同学未{verb}，请尽快{verb}：",
        "⏰ {title} ({ref}) is due {deadline}; {count} still to {verb}, please do it now:",
    )
    group_due = Text(
        "⏰ {title}（{ref}）已截止，还有 {count} 位同学未{verb}：",
        "⏰ {title} ({ref}) is past its deadline; {count} did not {verb}:",
    )
    group_done = Text(
        "✓ {title}（{ref}）全班都已{verb}，谢谢大家！",
        "✓ {title} ({ref}): everyone in the class did {verb}, thank you!",
    )
    unbound = Text("未绑定的同学：{names}", "Not bound yet: {names}")
    staff_head = Text(
        "📋 {title}（{ref}）{when}：{done}/{of} 已{verb}",
        "📋 {title} ({ref}) {when}: {done}/{of} did {verb}",
    )
    before_deadline = Text("截止 {deadline}", "due {deadline}")
    at_deadline = Text("已截止", "closed")
    staff_class = Text(
        "{code}：{done}/{of}，未{verb} {count} 人{names}",
        "{code}: {done}/{of}, {count} did not {verb}{names}",
    )
    staff_class_done = Text("{code}：{done}/{of} ✓", "{code}: {done}/{of} ✓")
    names = Text("：{names}", ": {names}")
    progress_head = Text(
        "📊 {title}（{ref}）进度：{done}/{of}（{rate:.0%}）",
        "📊 {title} ({ref}) progress: {done}/{of} ({rate:.0%})",
    )
    progress_college = Text("{name}：{done}/{of}（{rate:.0%}）", "{name}: {done}/{of} ({rate:.0%})")
    progress_class = Text(
        "  {code}：{done}/{of}（{rate:.0%}）", "  {code}: {done}/{of} ({rate:.0%})"
    )
    open_line = Text("· {title}（{ref}），截止 {deadline}", "· {title} ({ref}), due {deadline}")
    sheet_class = Text("班级", "Class")
    sheet_college = Text("学院", "College")
    sheet_number = Text("学号", "Student no.")
    sheet_name = Text("姓名", "Name")
    sheet_status = Text("状态", "Status")
    sheet_time = Text("提交时间", "Answered at")
    sheet_done = Text("已提交", "Answered")
    sheet_missing = Text("未提交", "Not answered")
    sheet_hidden = Text("（敏感，仅限有权限者）", "(sensitive: restricted)")
    health_sheet = Text("打卡", "Check-ins")
    notice_sheet = Text("通知确认", "Notice confirmations")


@dataclass(frozen=True)
class CampaignKind:
    """One kind of campaign, declared once."""

    name: str
    noun: tuple[str, str]
    period: Period
    reminders: Reminders
    # A class with no response yet is still listed in the roll-up (zero report).
    zero_report: bool
    # Responses are deleted this long after the campaign's deadline (None: another rule
    # keeps them, as the health data's retention does for the check-in).
    retention_days: int | None
    # The title of its ledger sheet (storage.ledger), or None for no sheet.
    sheet: str | Text | None
    store: ResponseStore = field(default_factory=CampaignResponses)
    # Answers taken in a class group too (check-in: yes), or in private chat only.
    in_groups: bool = False
    # Answer keys that, once true in a period, later answers cannot clear ("abnormal today").
    sticky: tuple[str, ...] = ()
    # Has a typed id (C3, N2): the built-in check-in has none.
    numbered: bool = True
    # The first reminder, this long before the deadline.
    remind_before: timedelta = timedelta(hours=2)
    # An open campaign of this kind appears in the 12:00 roll-up each day.
    in_daily_rollup: bool = True
    # Only the audience's students with this roster flag answer (psych: the 心理委员), so
    # non-responders, progress and coverage count them alone; None: every student.
    respondent_flag: str | None = None
    # People may name an instance by its id (进度 C3); a care kind's are never typed.
    typed: bool = True
    # A care record: the non-responders are reminded privately with `reminder`, and the
    # list goes to the classes' care readers (counselors, mental-health contacts) only.
    care: bool = False
    reminder: Text | None = None
    # What a respondent does (提交), when not the notice's 确认 or the collection's 填写.
    verb: Text | None = None
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", prefix_of(self.name) if self.numbered else "")

    def ref(self, number: int) -> str:
        return f"{self.prefix}{number}"

    def label(self, lang: str) -> str:
        return self.noun[1] if lang == "en" else self.noun[0]

    def sheet_title(self, lang: str) -> str:
        """The title of its sheet in `lang` (its noun when it declares none)."""
        if isinstance(self.sheet, Text):
            return self.sheet(lang)
        return self.sheet or self.label(lang)


HEALTH = CampaignKind(
    name="health",
    noun=("健康打卡", "Health check-in"),
    period=Period.DAILY,
    reminders=Reminders.GROUP,
    zero_report=True,
    retention_days=None,
    sheet=CampaignTexts.health_sheet,
    store=CheckInResponses(),
    in_groups=True,
    sticky=("abnormal",),
    numbered=False,
)

NOTICE = CampaignKind(
    name="notice",
    noun=("通知", "Notice"),
    period=Period.ONCE,
    reminders=Reminders.GROUP,
    zero_report=True,
    retention_days=180,
    sheet=CampaignTexts.notice_sheet,
    in_groups=True,
)


class Campaigns:
    """The registered kinds, in order."""

    def __init__(self, *kinds: CampaignKind) -> None:
        self.kinds = kinds
        assert len({k.name for k in kinds}) == len(kinds), "a kind registered twice"

    def __iter__(self) -> Any:
        return iter(self.kinds)

    def get(self, name: str) -> CampaignKind | None:
        return next((k for k in self.kinds if k.name == name), None)

    def register(self, kind: CampaignKind) -> Campaigns:
        """These kinds and one more (each feature adds its own in bot/app.py)."""
        return Campaigns(*self.kinds, kind)


KINDS = Campaigns(HEALTH, NOTICE)


# -- audiences ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    """Who a campaign asks: classes, a college, the school, or the students a tag names."""

    class_ids: frozenset[int] = frozenset()
    college_id: int | None = None
    school: bool = False
    tag: str | None = None
    students: frozenset[int] = frozenset()

    def to_json(self) -> dict[str, Any]:
        if self.school:
            return {"school": True}
        if self.college_id is not None:
            return {"college": self.college_id}
        if self.tag is not None:
            return {"tag": self.tag, "students": sorted(self.students)}
        return {"classes": sorted(self.class_ids)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Audience:
        if data.get("school"):
            return cls(school=True)
        if data.get("college") is not None:
            return cls(college_id=int(data["college"]))
        if data.get("tag") is not None:
            return cls(tag=str(data["tag"]), students=frozenset(data.get("students", ())))
        return cls(class_ids=frozenset(int(c) for c in data.get("classes", ())))

    @property
    def private_only(self) -> bool:
        """A campaign aimed at a care category is never spoken of in a group."""
        return self.tag is not None


def audience_classes(session: Session, audience: Audience) -> frozenset[int] | None:
    """The classes an audience covers (None: every class)."""
    if audience.school:
        return None
    if audience.college_id is not None:
        return frozenset(
            session.scalars(
                select(SchoolClass.id).where(SchoolClass.college_id == audience.college_id)
            )
        )
    if audience.tag is not None:
        if not audience.students:
            return frozenset()
        return frozenset(
            c
            for c in session.scalars(
                select(Person.class_id).where(Person.id.in_(sorted(audience.students))).distinct()
            )
            if c is not None
        )
    return audience.class_ids


def _in(column: Any, ids: Collection[int] | None) -> ColumnElement[bool]:
    if ids is None:
        return true()
    return cast(ColumnElement[bool], column.in_(sorted(ids)))


def _students(
    audience: Audience, class_ids: Collection[int] | None, kind: CampaignKind | None = None
) -> ColumnElement[bool]:
    """The audience's students in these classes: active students and monitors (those with
    the kind's respondent flag, where it has one)."""
    cond = and_(
        Person.role.in_(STUDENT_ROLES), Person.active.is_(True), _in(Person.class_id, class_ids)
    )
    if kind is not None and kind.respondent_flag is not None:
        cond = and_(cond, getattr(Person, kind.respondent_flag).is_(True))
    if audience.tag is not None:
        cond = and_(cond, Person.id.in_(sorted(audience.students) or [-1]))
    return cond


# -- instances ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """A campaign as the engine works on it: the row's fields, with its kind and form."""

    id: int | None
    kind: CampaignKind
    number: int
    title: str
    form: Form
    audience: Audience
    opens_at: datetime
    deadline: datetime
    remind_before: timedelta
    in_groups: bool
    status: str
    created_by: int | None = None
    body: str | None = None
    attachment_path: str | None = None
    # The instance's own period where its kind's follows the configuration (psych).
    period: Period | None = None

    @property
    def cadence(self) -> Period:
        return self.period or self.kind.period

    @property
    def ref(self) -> str:
        return self.kind.ref(self.number)

    @property
    def reminder_times(self) -> tuple[datetime, datetime]:
        """The first reminder (before the deadline) and the last (at it)."""
        return self.deadline - self.remind_before, self.deadline


def as_instance(row: Campaign, kinds: Campaigns = KINDS) -> Instance:
    kind = kinds.get(row.kind)
    assert kind is not None, row.kind
    return Instance(
        id=row.id,
        kind=kind,
        number=row.number,
        title=row.title,
        form=Form.from_json(row.form),
        audience=Audience.from_json(row.audience),
        opens_at=row.opens_at,
        deadline=row.deadline,
        remind_before=timedelta(minutes=row.remind_before),
        in_groups=row.in_groups,
        status=row.status,
        created_by=row.created_by,
        body=row.body,
        attachment_path=row.attachment_path,
        period=Period(row.period),
    )


def health_instance(day: date, deadline: datetime, tz: ZoneInfo) -> Instance:
    """The built-in check-in as a campaign for one day: the whole school, daily."""
    opens = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    return Instance(
        id=None,
        kind=HEALTH,
        number=0,
        title=HEALTH.noun[0],
        form=Form(),
        audience=Audience(school=True),
        opens_at=opens,
        deadline=deadline,
        remind_before=HEALTH.remind_before,
        in_groups=True,
        status=OPEN,
    )


def _next_number(session: Session, kind: CampaignKind) -> int:
    """The kind's next id number, under the same counter as request kinds (one per name)."""
    while True:
        number = session.scalar(
            update(RequestCounter)
            .where(RequestCounter.kind == kind.name)
            .values(last=RequestCounter.last + 1)
            .returning(RequestCounter.last)
            .execution_options(synchronize_session=False)
        )
        if number is not None:
            return int(number)
        try:
            with session.begin_nested():
                session.execute(insert(RequestCounter).values(kind=kind.name, last=0))
        except IntegrityError:
            pass


def create(
    session: Session,
    kind: CampaignKind,
    *,
    title: str,
    audience: Audience,
    deadline: datetime,
    now: datetime,
    created_by: int | None,
    form: Form | None = None,
    opens_at: datetime | None = None,
    remind_before: timedelta | None = None,
    in_groups: bool | None = None,
    body: str | None = None,
    attachment_path: str | None = None,
    number: int | None = None,
    period: Period | None = None,
) -> Instance:
    """Start a campaign; it gets the kind's next typed id (N3, C12), or `number` when the
    caller names one (one campaign per period: a second insert of it fails on the unique
    kind and number)."""
    assert kind.numbered, kind.name
    row = Campaign(
        kind=kind.name,
        number=_next_number(session, kind) if number is None else number,
        title=title,
        form=(form or Form()).to_json(),
        audience=audience.to_json(),
        opens_at=opens_at or now,
        deadline=deadline,
        period=(period or kind.period).value,
        remind_before=int((remind_before or kind.remind_before).total_seconds() // 60),
        # A campaign aimed at a care category is private-only.
        in_groups=(kind.in_groups if in_groups is None else in_groups)
        and not audience.private_only,
        created_by=created_by,
        created_at=now,
        status=OPEN,
        body=body,
        attachment_path=attachment_path,
    )
    session.add(row)
    session.flush()
    return as_instance(row, Campaigns(kind))


def find(session: Session, kind: CampaignKind, number: int, kinds: Campaigns = KINDS) -> Instance:
    row = session.scalar(
        select(Campaign).where(Campaign.kind == kind.name, Campaign.number == number)
    )
    if row is None:
        ref = kind.ref(number)
        raise NotFound(what=f"{kind.noun[0]} {ref}", what_en=f"{kind.noun[1]} {ref}")
    return as_instance(row, kinds)


def by_ref(session: Session, token: str, kinds: Campaigns = KINDS) -> Instance | None:
    """The campaign a typed id names (N3, c12), or None for no campaign id."""
    ref = parse_ref(token)
    if ref is None:
        return None
    kind = kinds.get(ref.kind_name)
    if kind is None or not kind.numbered or not kind.typed:
        return None
    return find(session, kind, ref.number, kinds)


def open_campaigns(
    session: Session, kinds: Iterable[CampaignKind] | None = None, kinds_reg: Campaigns = KINDS
) -> list[Instance]:
    """Every open campaign (of these kinds), oldest first."""
    stmt = select(Campaign).where(Campaign.status == OPEN).order_by(Campaign.id)
    if kinds is not None:
        stmt = stmt.where(Campaign.kind.in_([k.name for k in kinds]))
    return [as_instance(r, kinds_reg) for r in session.scalars(stmt) if kinds_reg.get(r.kind)]


def covers(session: Session, campaign: Instance, person: Person) -> bool:
    """Whether a student is in a campaign's audience."""
    a = campaign.audience
    if person.role not in STUDENT_ROLES or not person.active:
        return False
    flag = campaign.kind.respondent_flag
    if flag is not None and not getattr(person, flag):
        return False
    if a.tag is not None:
        return person.id in a.students
    classes = audience_classes(session, a)
    return classes is None or person.class_id in classes


def open_for_student(
    session: Session,
    student: Person,
    kind: CampaignKind,
    *,
    unanswered: bool = False,
    now: datetime | None = None,
    tz: ZoneInfo | None = None,
    kinds: Campaigns = KINDS,
) -> list[Instance]:
    """The open campaigns of a kind that ask this student (only those not answered yet)."""
    out = []
    for c in open_campaigns(session, [kind], kinds):
        if not covers(session, c, student):
            continue
        if unanswered:
            key = current_key(c, now or c.opens_at, tz or ZoneInfo("UTC"))
            if response(session, c, key, student.id) is not None:
                continue
        out.append(c)
    return out


def close(session: Session, campaign: Instance, now: datetime) -> bool:
    """Close a campaign (no more answers); False when it was closed already."""
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == OPEN)
        .values(status=CLOSED, closed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def current_key(campaign: Instance, now: datetime, tz: ZoneInfo) -> str:
    return period_key(campaign.cadence, now.astimezone(tz).date())


# -- responses ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    revision: int

    @property
    def replaced(self) -> bool:
        return self.revision > 1


@functools.cache
def _upsert(dialect: str) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    table = cast(Table, CampaignResponse.__table__)
    stmt = module.insert(table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[table.c.campaign_id, table.c.period_key, table.c.person_id],
        set_={
            "class_id": excluded.class_id,
            "answers": excluded.answers,
            "updated_at": excluded.updated_at,
            "revision": table.c.revision + 1,
        },
    ).returning(table.c.revision)


def respond(
    session: Session,
    campaign: Instance,
    *,
    person_id: int,
    class_id: int,
    answers: Mapping[str, Any],
    now: datetime,
    key: str,
) -> Answered:
    """Store a person's response for a period: one current row (an upsert, so two copies of
    one message sent at once store one response), every version in the revisions. A sticky
    key true in the current response stays true."""
    assert campaign.id is not None, "the check-in records through storage.checkins"
    values = dict(answers)
    if campaign.kind.sticky:
        before = response(session, campaign, key, person_id)
        for k in campaign.kind.sticky:
            if before is not None and before.get(k):
                values[k] = True
    dialect = session.get_bind().dialect.name
    revision = session.scalar(
        _upsert(dialect),
        {
            "campaign_id": campaign.id,
            "period_key": key,
            "person_id": person_id,
            "class_id": class_id,
            "answers": values,
            "first_at": now,
            "updated_at": now,
            "revision": 1,
        },
    )
    assert revision is not None
    session.execute(
        insert(CampaignResponseRevision).values(
            campaign_id=campaign.id,
            period_key=key,
            person_id=person_id,
            revision=int(revision),
            answers=values,
            at=now,
        )
    )
    return Answered(int(revision))


def response(
    session: Session, campaign: Instance, key: str, person_id: int
) -> dict[str, Any] | None:
    """A person's current answers in a period, or None."""
    answers = session.scalar(
        select(CampaignResponse.answers).where(
            CampaignResponse.campaign_id == campaign.id,
            CampaignResponse.period_key == key,
            CampaignResponse.person_id == person_id,
        )
    )
    return dict(answers) if answers is not None else None


def revisions(
    session: Session, campaign: Instance, key: str, person_id: int
) -> list[dict[str, Any]]:
    """Every version of a person's response in a period, oldest first."""
    return [
        dict(a)
        for a in session.scalars(
            select(CampaignResponseRevision.answers)
            .where(
                CampaignResponseRevision.campaign_id == campaign.id,
                CampaignResponseRevision.period_key == key,
                CampaignResponseRevision.person_id == person_id,
            )
            .order_by(CampaignResponseRevision.revision)
        )
    ]


# -- non-responders and the roll-up ------------------------------------------------------


@dataclass(frozen=True)
class Member:
    id: int
    number: str
    name: str
    class_id: int
    phone: str | None = None


@dataclass
class ClassNonResponders:
    class_id: int
    code: str
    missing: list[Member] = field(default_factory=list)


def non_responders(
    session: Session,
    campaign: Instance,
    key: str,
    class_ids: Collection[int] | None = None,
    *,
    excused: Collection[int] = (),
) -> list[ClassNonResponders]:
    """Who in each class of the scope has not answered in this period: one statement for
    every class (an anti-join on the kind's store), every class listed even when complete.

    `class_ids` narrows the campaign's audience to a scope (None: the whole audience);
    `excused` people (a student on approved leave) are left out.
    """
    scope = _scope(session, campaign, class_ids)
    out = {cid: ClassNonResponders(cid, code) for cid, code, _ in classes_of(session, scope)}
    rows = session.execute(
        select(Person.id, Person.number, Person.name, Person.class_id, Person.phone)
        .where(
            _students(campaign.audience, scope, campaign.kind),
            ~campaign.kind.store.answered(campaign.id, key, Person.id),
        )
        .order_by(Person.class_id, Person.number)
    )
    skip = set(excused)
    for pid, number, name, cid, phone in rows:
        if cid in out and pid not in skip:
            out[cid].missing.append(Member(pid, number, name, cid, phone))
    return list(out.values())


def _scope(
    session: Session, campaign: Instance, class_ids: Collection[int] | None
) -> frozenset[int] | None:
    audience = audience_classes(session, campaign.audience)
    if class_ids is None:
        return audience
    if audience is None:
        return frozenset(class_ids)
    return audience & frozenset(class_ids)


def classes_of(session: Session, class_ids: Collection[int] | None) -> list[tuple[int, str, str]]:
    """(class id, code, college name), ordered by college then code."""
    rows = session.execute(
        select(SchoolClass.id, SchoolClass.code, College.name)
        .join(College, College.id == SchoolClass.college_id)
        .where(_in(SchoolClass.id, class_ids))
        .order_by(College.name, SchoolClass.code)
    )
    return [(int(i), c, n) for i, c, n in rows]


@dataclass(frozen=True)
class Count:
    """How many answered of how many asked."""

    label: str
    done: int
    of: int

    @property
    def rate(self) -> float:
        return self.done / self.of if self.of else 0.0

    @property
    def missing(self) -> int:
        return self.of - self.done


@dataclass(frozen=True)
class Progress:
    """A campaign's roll-up: every class of the scope (zero rows included), each college,
    and the school."""

    classes: Sequence[tuple[str, Count]]  # (college, class count)
    colleges: Sequence[Count]
    total: Count


def progress(
    session: Session, campaign: Instance, key: str, class_ids: Collection[int] | None = None
) -> Progress:
    """The class → college → school counts, from two grouped statements: the audience per
    class, and the responders per class. A class nobody answered in is listed with 0."""
    scope = _scope(session, campaign, class_ids)
    classes = classes_of(session, scope)
    asked = {
        int(cid): int(n)
        for cid, n in session.execute(
            select(Person.class_id, func.count())
            .where(_students(campaign.audience, scope, campaign.kind))
            .group_by(Person.class_id)
        )
        if cid is not None
    }
    if campaign.audience.tag is None and campaign.kind.respondent_flag is None:
        done = campaign.kind.store.counts(session, campaign.id, key, scope)
    else:
        done = {
            int(cid): int(n)
            for cid, n in session.execute(
                select(Person.class_id, func.count())
                .where(
                    _students(campaign.audience, scope, campaign.kind),
                    campaign.kind.store.answered(campaign.id, key, Person.id),
                )
                .group_by(Person.class_id)
            )
            if cid is not None
        }
    rows: list[tuple[str, Count]] = []
    by_college: dict[str, list[int]] = {}
    for cid, code, college in classes:
        of = asked.get(cid, 0)
        if of == 0 and (campaign.audience.tag is not None or campaign.kind.respondent_flag):
            continue
        count = Count(code, min(done.get(cid, 0), of), of)
        rows.append((college, count))
        totals = by_college.setdefault(college, [0, 0])
        totals[0] += count.done
        totals[1] += count.of
    colleges = [Count(name, d, o) for name, (d, o) in by_college.items()]
    total = Count("", sum(c.done for c in colleges), sum(c.of for c in colleges))
    return Progress(rows, colleges, total)


# -- retention ---------------------------------------------------------------------------


def purge(session: Session, now: datetime, kinds: Campaigns = KINDS) -> int:
    """Delete the responses (and their versions) of campaigns whose deadline is past their
    kind's retention; the campaign rows stay, for their counts' sake. Returns how many
    current responses went."""
    gone = 0
    for kind in kinds:
        if kind.retention_days is None or not kind.numbered:
            continue
        cutoff = now - timedelta(days=kind.retention_days)
        ids = list(
            session.scalars(
                select(Campaign.id).where(Campaign.kind == kind.name, Campaign.deadline < cutoff)
            )
        )
        if not ids:
            continue
        session.execute(
            delete(CampaignResponseRevision).where(CampaignResponseRevision.campaign_id.in_(ids))
        )
        result = session.execute(
            delete(CampaignResponse).where(CampaignResponse.campaign_id.in_(ids))
        )
        gone += rows_affected(result)
    return gone


# -- what a row of the ledger sheet reads ------------------------------------------------


@dataclass(frozen=True)
class SheetRow:
    class_code: str
    college: str
    number: str
    name: str
    answered_at: datetime | None
    answers: Mapping[str, Any]


def sheet_rows(
    session: Session, campaign: Instance, key: str, class_ids: Collection[int] | None = None
) -> list[SheetRow]:
    """Every student of the audience in scope, with their current response (or none)."""
    scope = _scope(session, campaign, class_ids)
    rows = session.execute(
        select(
            SchoolClass.code,
            College.name,
            Person.number,
            Person.name,
            CampaignResponse.updated_at,
            CampaignResponse.answers,
        )
        .join(SchoolClass, SchoolClass.id == Person.class_id)
        .join(College, College.id == SchoolClass.college_id)
        .outerjoin(
            CampaignResponse,
            and_(
                CampaignResponse.person_id == Person.id,
                CampaignResponse.campaign_id == campaign.id,
                CampaignResponse.period_key == key,
            ),
        )
        .where(_students(campaign.audience, scope, campaign.kind))
        .order_by(College.name, SchoolClass.code, Person.number)
    )
    return [
        SheetRow(code, college, number, name, at, dict(answers or {}))
        for code, college, number, name, at, answers in rows
    ]


# -- who hears of a campaign -------------------------------------------------------------


def college_by_name(session: Session, name: str) -> College | None:
    return session.scalar(select(College).where(College.name == name))


def groups_in(
    session: Session, class_ids: Collection[int] | None, platforms: Collection[str]
) -> list[GroupChat]:
    """The bound class groups of these classes on the running platforms."""
    return list(
        session.scalars(
            select(GroupChat)
            .where(GroupChat.platform.in_(sorted(platforms)), _in(GroupChat.class_id, class_ids))
            .order_by(GroupChat.platform, GroupChat.chat_id)
        )
    )


def class_staff(
    session: Session,
    class_ids: Collection[int] | None,
    roles: Collection[Role] = (Role.COUNSELOR, Role.HEAD_TEACHER),
) -> dict[int, tuple[Person, list[int]]]:
    """The staff of these classes in these roles (counselors and head teachers), each with
    their classes among them."""
    out: dict[int, tuple[Person, list[int]]] = {}
    rows = session.execute(
        select(Person, StaffAssignment.class_id)
        .join(StaffAssignment, StaffAssignment.person_id == Person.id)
        .where(
            Person.role.in_([r.value for r in roles]),
            Person.active.is_(True),
            _in(StaffAssignment.class_id, class_ids),
        )
        .order_by(Person.number, StaffAssignment.class_id)
    )
    for person, cid in rows:
        out.setdefault(person.id, (person, []))[1].append(cid)
    return out


def students_of(session: Session, campaign: Instance) -> list[int]:
    """The person ids of a campaign's whole audience."""
    scope = audience_classes(session, campaign.audience)
    return list(
        session.scalars(
            select(Person.id)
            .where(_students(campaign.audience, scope, campaign.kind))
            .order_by(Person.id)
        )
    )
