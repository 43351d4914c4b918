"""The database schema: roster, chat identities, check-ins, workflows, attendance and logs."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; SQLite would otherwise hand back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Role(enum.StrEnum):
    STUDENT = "student"
    MONITOR = "monitor"
    COUNSELOR = "counselor"
    HEAD_TEACHER = "head_teacher"
    COLLEGE_ADMIN = "college_admin"
    SCHOOL_ADMIN = "school_admin"

    @property
    def is_student(self) -> bool:
        return self in (Role.STUDENT, Role.MONITOR)

    @property
    def is_staff(self) -> bool:
        return not self.is_student


class College(Base):
    __tablename__ = "colleges"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)

    classes: Mapped[list[SchoolClass]] = relationship(back_populates="college")


class SchoolClass(Base):
    """班级."""

    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    college_id: Mapped[int] = mapped_column(ForeignKey("colleges.id"), index=True)

    college: Mapped[College] = relationship(back_populates="classes")


class Person(Base):
    """A roster person: a student (学号) or a staff member (工号)."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20), index=True)
    # Students and monitors belong to one class; college admins to one college.
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"), index=True)
    college_id: Mapped[int | None] = mapped_column(ForeignKey("colleges.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # 心理委员: a flag beside the student or monitor role (one person can be 班长 and 心理委员).
    psych_rep: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # PIPL Art. 29: separate consent for sensitive personal information.
    consent_version: Mapped[int | None] = mapped_column(Integer)
    consent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    school_class: Mapped[SchoolClass | None] = relationship()

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class StaffAssignment(Base):
    """A counselor's or head teacher's class."""

    __tablename__ = "staff_assignments"
    __table_args__ = (UniqueConstraint("person_id", "class_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)


class ChatAccount(Base):
    """A chat account (platform + platform user id) bound to one roster person."""

    __tablename__ = "chat_accounts"
    __table_args__ = (
        UniqueConstraint("platform", "platform_user_id"),
        # One account per person per platform: a bound person cannot be taken over.
        UniqueConstraint("person_id", "platform"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    platform_user_id: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    display_name: Mapped[str | None] = mapped_column(String(200))
    bound_at: Mapped[datetime]
    unreachable_at: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))
    # When the person was last asked, in a group, to open a private chat with the bot.
    nudged_at: Mapped[datetime | None]


class GroupChat(Base):
    """A group chat bound to one class."""

    __tablename__ = "group_chats"
    __table_args__ = (UniqueConstraint("platform", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(100))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    bound_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    bound_at: Mapped[datetime]


class BindCode(Base):
    """A one-time code that lets a person bind an account in private chat."""

    __tablename__ = "bind_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class CheckIn(Base):
    """每日健康打卡: the current check-in of one student on one local day."""

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("student_id", "day"),
        Index("ix_checkins_day_class", "day", "class_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    # The class at check-in time, so a day's roll-up needs no join through people.
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    # Tenths of a degree Celsius: exact, and cheap to compare.
    temp_tenths: Mapped[int] = mapped_column(Integer)
    symptoms: Mapped[str] = mapped_column(String(400), default="")
    city: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))
    abnormal: Mapped[bool] = mapped_column(Boolean)
    # Sticky: some reading of this student today was abnormal, whatever the current one
    # says. A later normal reading corrects it (已更正) but never erases it.
    abnormal_today: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    late: Mapped[bool] = mapped_column(Boolean)
    submitted_at: Mapped[datetime]
    platform: Mapped[str] = mapped_column(String(20))
    revision: Mapped[int] = mapped_column(Integer, default=1)


class CheckInRevision(Base):
    """Every check-in submission, kept when a later one the same day replaces it."""

    __tablename__ = "checkin_revisions"
    __table_args__ = (UniqueConstraint("student_id", "day", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date, index=True)
    revision: Mapped[int] = mapped_column(Integer)
    temp_tenths: Mapped[int] = mapped_column(Integer)
    symptoms: Mapped[str] = mapped_column(String(400), default="")
    city: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))
    abnormal: Mapped[bool] = mapped_column(Boolean)
    late: Mapped[bool] = mapped_column(Boolean)
    submitted_at: Mapped[datetime]


class DailyCount(Base):
    """Anonymous per-class daily counts, kept after check-in details pass retention."""

    __tablename__ = "daily_counts"
    __table_args__ = (UniqueConstraint("class_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    roster: Mapped[int] = mapped_column(Integer)
    checked_in: Mapped[int] = mapped_column(Integer)
    late: Mapped[int] = mapped_column(Integer)
    abnormal: Mapped[int] = mapped_column(Integer)


class Request(Base):
    """A request someone decides (请假, 补助, …): one row per request of any kind.

    The kind's declaration (storage/requests.py) says what its states and payload mean;
    `number` is the id people see after the kind's prefix (L37 is leave number 37).
    """

    __tablename__ = "requests"
    __table_args__ = (
        UniqueConstraint("kind", "number"),
        Index("ix_requests_kind_status", "kind", "status", "class_id"),
        Index("ix_requests_student_period", "student_id", "starts_on", "ends_on"),
        # At most one open request per student for the kinds that allow only one.
        Index(
            "uq_requests_one_open",
            "kind",
            "student_id",
            unique=True,
            sqlite_where=text("exclusive"),
            postgresql_where=text("exclusive"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    student_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    # The class at submission time: the scope of whoever decides it.
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime]
    # The last change of state (a timer such as "open for 24 h" reads it).
    changed_at: Mapped[datetime]
    # When it reached a final state.
    closed_at: Mapped[datetime | None]
    # A named person the request is assigned to, where a kind assigns.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    # The days a request covers (a leave's first and last day), for "who is away on day D".
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    # Holds the student's one open request of a kind that allows only one.
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RequestEvent(Base):
    """One step in a request's life (submitted, approved, noted…): the audit trail of
    decisions, with the decider's note."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("requests.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)


class RequestCounter(Base):
    """The last number given to each kind of request."""

    __tablename__ = "request_counters"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class AttendanceRecord(Base):
    """云考勤: one online-class session of one class, as its monitor last posted it."""

    __tablename__ = "attendance_records"
    __table_args__ = (UniqueConstraint("class_id", "course", "day", "session"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    course: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date, index=True)
    session: Mapped[str] = mapped_column(String(40), default="")
    posted_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    posted_at: Mapped[datetime]
    revision: Mapped[int] = mapped_column(Integer, default=1)
    roster_size: Mapped[int] = mapped_column(Integer)
    # The posting as stored: {"absent": [...ids], "late": [...], "leave": [...]}; the
    # entries table is the queryable form, this keeps each replaced posting whole.
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class AttendanceEntry(Base):
    """One student's absence, lateness or leave in one attendance record."""

    __tablename__ = "attendance_entries"
    __table_args__ = (UniqueConstraint("record_id", "student_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("attendance_records.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))


class Delivery(Base):
    """The claim on one scheduled delivery: unique per (job, recipient scope, local day)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("job", "scope", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    scope: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    claimed_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    detail: Mapped[str | None] = mapped_column(Text)


class InboundMessage(Base):
    """The inbound log: each platform message or update, so it is handled once.

    Platforms that can lose an update mid-handler (Telegram) store the raw payload here
    before confirming it, and process it from here.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("platform", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(index=True)
    processed_at: Mapped[datetime | None]


class OpenConversation(Base):
    """A chat the platform lets the bot write to unprompted, because someone wrote first.

    WeCom's 智能机器人 may post to a group only after it was @-ed there, and to a person only
    after that person messaged it; the adapter records each such conversation when it opens.
    """

    __tablename__ = "open_conversations"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "is_group"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(100))
    is_group: Mapped[bool] = mapped_column(Boolean)
    opened_at: Mapped[datetime]


class AuditEntry(Base):
    """The audit log: who did what to which record, and when. Never holds the data itself."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str | None] = mapped_column(String(100))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class OutboxMessage(Base):
    """One message the bot says, to one account or chat, queued in the transaction of its cause.

    A row moves queued → claimed (a sender holds it) → sending (handed to the platform) →
    sent, or ends expired (its deadline passed) or unreachable (the platform refused the
    account for good). The body is purged with the health data; the metadata stays.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "platform", "status", "next_attempt_at"),
        Index("ix_outbox_chat", "platform", "chat_id", "status"),
        # The claim looks only at queued rows, a small part of a busy outbox.
        Index(
            "ix_outbox_claim",
            "platform",
            "next_attempt_at",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # What caused it: "msg:<platform>:<chat>:<message id>", "delivery:<id>", "app".
    cause: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(100))
    is_group: Mapped[bool] = mapped_column(Boolean)
    # The roster person a private row is for (None: a group, or an unbound account).
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(Integer)
    # JSON: text, mentions, buttons, and for an acknowledgement its name and count.
    body: Mapped[str | None] = mapped_column(Text)
    attachment_path: Mapped[str | None] = mapped_column(String(500))
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment_type: Mapped[str | None] = mapped_column(String(120))
    # Acknowledgements with one key in one chat are merged into one message.
    coalesce_key: Mapped[str | None] = mapped_column(String(100))
    delivery_id: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    deadline: Mapped[datetime]
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(300))


class PendingPrompt(Base):
    """A question the bot asked one account in one chat, waiting for its answer.

    `expect` names the answer handler the next message goes to; `command` is the command
    that started the conversation, whose authorization the answer passes again. At most one
    per (platform, chat, account): asking again replaces it.
    """

    __tablename__ = "pending_prompts"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "sender_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(100))
    sender_id: Mapped[str] = mapped_column(String(100))
    # The roster person who was asked (None: an unbound account), and their role then.
    person_id: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str | None] = mapped_column(String(20))
    command: Mapped[str] = mapped_column(String(40))
    expect: Mapped[str] = mapped_column(String(100))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    asked_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class CareAlert(Base):
    """心理预警: an urgent mental-health concern about a student, read only by the student's
    counselors, the college's mental-health contacts and staff it is assigned to."""

    __tablename__ = "care_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    # The class when raised: whose counselors read it.
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)


class CareConsent(Base):
    """A student's separate consent for one purpose: "care" (care records, where the school's
    basis is consent) or "parents" (sharing with parents). Withdrawn keeps the row."""

    __tablename__ = "care_consents"
    __table_args__ = (UniqueConstraint("person_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))
    given_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]


class Campaign(Base):
    """ "Everyone in this audience answers by T": one collection, notice or other campaign.

    Its kind (storage/campaigns.py) says what its period, reminders and retention are;
    `number` is the id people see after the kind's prefix (N3 is notice number 3). The
    audience is stored as what resolves it: class ids, a college id, the school, or the
    students a tag named when it started.
    """

    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("kind", "number"),
        Index("ix_campaigns_status_deadline", "status", "deadline"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    # The response form (storage.forms.Form.to_json); empty for a notice.
    form: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # {"classes": [ids]} | {"college": id} | {"school": true} | {"tag": name, "students": [ids]}
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opens_at: Mapped[datetime]
    deadline: Mapped[datetime]
    period: Mapped[str] = mapped_column(String(10))
    # The first reminder, this many minutes before the deadline (the last is at it).
    remind_before: Mapped[int] = mapped_column(Integer, default=120)
    # Whether answers are taken in a class group too, or in private chat only.
    in_groups: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="open")
    closed_at: Mapped[datetime | None]
    attachment_path: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)


class CampaignResponse(Base):
    """One person's current response to a campaign in one period (a day, a week, or once)."""

    __tablename__ = "campaign_responses"
    __table_args__ = (
        UniqueConstraint("campaign_id", "period_key", "person_id"),
        Index("ix_campaign_responses_class", "campaign_id", "period_key", "class_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    period_key: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    # The class at answer time, so a roll-up needs no join through people.
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    revision: Mapped[int] = mapped_column(Integer, default=1)


class CampaignResponseRevision(Base):
    """Every version of a response, kept when a later one replaces it."""

    __tablename__ = "campaign_response_revisions"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id",
            "period_key",
            "person_id",
            "revision",
            name="uq_campaign_response_revisions_version",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    period_key: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime]


class CareTag(Base):
    """重点学生 / 建档立卡: a student tagged with a care category, until the tag is removed."""

    __tablename__ = "care_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(40))
    tagged_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    tagged_at: Mapped[datetime]
    removed_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    removed_at: Mapped[datetime | None]


class CareContact(Base):
    """云家访 or 谈心谈话: one contact with a key student (or their family) and what it found."""

    __tablename__ = "care_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    # "visit" (家访) or "talk" (谈话).
    kind: Mapped[str] = mapped_column(String(10))
    day: Mapped[date] = mapped_column(Date)
    # 视频 / 电话 / 微信 / 面谈.
    mode: Mapped[str] = mapped_column(String(10))
    participants: Mapped[str] = mapped_column(Text, default="")
    situation: Mapped[str] = mapped_column(Text, default="")
    help_given: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime]


class CareFollowUp(Base):
    """A follow-up a contact promised (寄口罩, 推送招聘信息), due on a day, until marked done."""

    __tablename__ = "care_followups"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("care_contacts.id", ondelete="CASCADE"), index=True
    )
    due: Mapped[date] = mapped_column(Date)
    what: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    done_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    done_at: Mapped[datetime | None]


class HealthTrack(Base):
    """云跟踪: the daily follow-up of an unwell student, open until staff mark them recovered."""

    __tablename__ = "health_tracks"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    # "checkin" (opened by an abnormal check-in), "leave" (跟踪 <a sick leave>) or "staff".
    source: Mapped[str] = mapped_column(String(20))
    # The reading it started from, to tell a worse answer: tenths of a degree, symptoms.
    base_temp_tenths: Mapped[int | None] = mapped_column(Integer)
    base_symptoms: Mapped[str] = mapped_column(String(400), default="")
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime]
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None]


class HealthTrackAnswer(Base):
    """One day's answer to the 云跟踪 prompt: how the student feels and their temperature."""

    __tablename__ = "health_track_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(
        ForeignKey("health_tracks.id", ondelete="CASCADE"), index=True
    )
    day: Mapped[date] = mapped_column(Date)
    temp_tenths: Mapped[int] = mapped_column(Integer)
    symptoms: Mapped[str] = mapped_column(String(400), default="")
    note: Mapped[str | None] = mapped_column(String(500))
    worse: Mapped[bool] = mapped_column(Boolean)
    answered_at: Mapped[datetime]
