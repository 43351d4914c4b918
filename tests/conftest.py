"""Shared fixtures: a real database (SQLite, or PostgreSQL when CLASSBOT_TEST_DATABASE_URL is
set), the demo school, a movable clock, and the real app driven through the test adapter."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, text

from bot.adapters.testing import TestAdapter
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.messages import OutgoingMessage
from handlers.privacy import notice
from storage import db, demo
from storage.checkins import format_temp
from storage.forms import Form
from storage.models import (
    Base,
    Campaign,
    CampaignResponseRevision,
    CareAlert,
    CareContact,
    CareFollowUp,
    CheckInRevision,
    HealthTrackAnswer,
    Person,
    Request,
    RequestEvent,
)

PG_URL = os.environ.get("CLASSBOT_TEST_DATABASE_URL")
TZ = ZoneInfo("Asia/Shanghai")
# A Monday, before the day's first job: the demo week starts here.
START = datetime(2026, 11, 23, 6, 0, tzinfo=TZ)

pg_only = pytest.mark.skipif(PG_URL is None, reason="CLASSBOT_TEST_DATABASE_URL is not set")


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database: a SQLite file to copy, or the PostgreSQL URL."""
    if PG_URL:
        engine = db.make_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        db.upgrade(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    db.upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database for one test."""
    if PG_URL:
        engine = db.make_engine(PG_URL)
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        yield PG_URL
        return
    path = tmp_path / "classbot.db"
    shutil.copy(migrated_template, path)
    yield f"sqlite:///{path}"


@pytest.fixture(autouse=True)
def outbox_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Files queued for sending (ledgers) go to the test's own directory."""
    folder = tmp_path / "outbox-files"
    monkeypatch.setenv("CLASSBOT_OUTBOX__FILES_DIR", str(folder))
    return folder


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def make_config(url: str, **sections: dict[str, Any]) -> Config:
    return load_config(None, database={"url": url}, **sections)


def at_once(config: Config) -> Config:
    """The config with group acknowledgements sent at once, not merged over a window: a
    platform test then sees each acknowledgement as its message is handled."""
    return config.model_copy(
        update={"outbox": config.outbox.model_copy(update={"ack_wait": 0, "ack_interval": 0})}
    )


@pytest.fixture
def config(database_url: str) -> Config:
    return make_config(database_url)


# Words that make a student id in the same group message health or finance data.
SENSITIVE_WORDS = (
    "体温",
    "℃",
    "°C",
    "症状",
    "异常",
    "发热",
    "病假",
    "病因",
    "补助",
    "困难",
    "家访",
    "谈话",
    "跟踪",
    "重点学生",
    "档案",
    "心理",
)


def privacy_guard(engine: Engine, static_texts: list[str]) -> Any:
    """Fails the test when a group message carries health, leave or subsidy details, or any
    campaign's answer to a sensitive question.

    Forbidden in a group: any stored temperature, symptom, check-in note or city, leave
    reason or follow-up note, subsidy reason or amount, a rejection reason, a key student's
    contact log, follow-up or 云跟踪 answer; and any
    student's 学号 next to a health or finance word. The bot's own fixed texts (usage lines
    with their made-up examples, the privacy notice, the temperature range) are not data
    and are taken out before the check.
    """
    static_texts = sorted(static_texts, key=len, reverse=True)

    def guard(message: OutgoingMessage) -> None:
        body = message.text + " ".join(m.name for m in message.mentions)
        for static in static_texts:
            body = body.replace(static, "")
        with engine.connect() as conn:
            revisions = conn.execute(
                select(
                    CheckInRevision.temp_tenths,
                    CheckInRevision.symptoms,
                    CheckInRevision.note,
                    CheckInRevision.city,
                )
            ).all()
            payloads = conn.execute(select(Request.payload)).scalars().all()
            notes = conn.execute(select(RequestEvent.note)).scalars().all()
            # Care records: 心理预警 (心理委员 reports are campaign answers, below).
            care = [*conn.execute(select(CareAlert.text)).scalars().all()]
            # Key-student files: contact logs, follow-ups, 云跟踪 answers.
            care_texts = [
                t
                for row in conn.execute(
                    select(CareContact.participants, CareContact.situation, CareContact.help_given)
                )
                for t in row
            ]
            care_texts += conn.execute(select(CareFollowUp.what)).scalars().all()
            track_answers = conn.execute(
                select(HealthTrackAnswer.temp_tenths, HealthTrackAnswer.symptoms)
            ).all()
            students = (
                conn.execute(select(Person.number).where(Person.role.in_(["student", "monitor"])))
                .scalars()
                .all()
            )
            # Every campaign's answers to its sensitive questions, every version of them.
            answers = conn.execute(
                select(Campaign.form, CampaignResponseRevision.answers).join(
                    Campaign, Campaign.id == CampaignResponseRevision.campaign_id
                )
            ).all()
        forbidden: set[str] = set()
        # Short free text ("在家") is too common to tell apart from the bot's own words.
        texts: set[str | None] = set()
        for tenths, symptoms, note, city in revisions:
            forbidden.add(format_temp(tenths))
            forbidden.update(s for s in symptoms.split("、") if s)
            texts.add(note)
            if city and len(city) >= 2:
                forbidden.add(city)
        # Every request kind's payload: its text (reasons), its amounts in cents; every
        # decision note and follow-up note.
        for payload in payloads:
            for value in payload.values():
                if isinstance(value, str):
                    texts.add(value)
                elif isinstance(value, int) and not isinstance(value, bool) and value:
                    forbidden.add(f"{value // 100}")
        texts.update(notes)
        texts.update(care)
        for form, given in answers:
            for key in Form.from_json(form).sensitive_keys:
                value = given.get(key)
                values = value if isinstance(value, list) else [value]
                for v in values:
                    if isinstance(v, str) and len(v) >= 2:
                        forbidden.add(v)
                    elif isinstance(v, int | float) and not isinstance(v, bool):
                        forbidden.add(str(v))
        texts.update(care_texts)
        for tenths, symptoms in track_answers:
            forbidden.add(format_temp(tenths))
            forbidden.update(s for s in symptoms.split("、") if s)
        forbidden.update(t for t in texts if t and len(t) >= 4)
        leaked = sorted(f for f in forbidden if f and f in body)
        assert not leaked, f"group message leaks {leaked}: {message.text!r}"
        if any(w in body for w in SENSITIVE_WORDS):
            named = sorted(n for n in students if n in body)
            assert not named, f"group message names {named} next to health data: {message.text!r}"

    return guard


def static_texts(app: App) -> list[str]:
    """The bot's own fixed texts, which a group may see: not personal data."""
    cfg = app.config
    texts = [u for c in app.dispatcher.commands for u in (c.usage_zh, c.usage_en)]
    # As shown: with the deployment's class and dates around the day of the test.
    examples = app.dispatcher.examples()
    texts += [c.usage(lang, examples) for c in app.dispatcher.commands for lang in ("zh", "en")]
    texts.append(notice(cfg))
    low, high = cfg.checkin.min_temperature, cfg.checkin.max_temperature
    texts += [f"{low}℃–{high}℃", f"{low}–{high}", f"{low}℃", f"{high}℃"]
    return texts


async def start_app(
    config: Config, clock: ManualClock, seed: bool = True
) -> tuple[App, TestAdapter]:
    app = build_app(config, clock)
    adapter = TestAdapter(group_guard=privacy_guard(app.engine, static_texts(app)))
    app.add_adapter(adapter)
    if seed:
        with app.uow() as session:
            demo.seed(
                session,
                clock.now(),
                platforms=("test",),
                consent_version=config.privacy.notice_version,
            )
    await app.start()
    return app, adapter


@pytest.fixture
async def app_and_bot(config: Config, clock: ManualClock) -> AsyncIterator[tuple[App, TestAdapter]]:
    app, adapter = await start_app(config, clock)
    yield app, adapter
    await app.stop()
    app.engine.dispose()


@pytest.fixture
def app(app_and_bot: tuple[App, TestAdapter]) -> App:
    return app_and_bot[0]


@pytest.fixture
def bot(app_and_bot: tuple[App, TestAdapter]) -> TestAdapter:
    return app_and_bot[1]


# A second college with its own class, staff and group: everyone here is out of scope for
# the demo school's classes (and the demo staff for this one).
OTHER_COLLEGE = "药学院"
OTHER_CLASS = "药学181"
OTHER_PEOPLE = {
    "student": "2021001",
    "monitor": "2021002",
    "counselor": "T101",
    "head_teacher": "T102",
    "college_admin": "T103",
}


def seed_other_college(app: App, platform: str = "test") -> None:
    from storage.models import ChatAccount, GroupChat
    from storage.roster import RosterData, StaffRow, StudentRow, import_roster

    data = RosterData(
        students=[
            StudentRow(2, "2021001", "孙药一", OTHER_COLLEGE, OTHER_CLASS, "学生"),
            StudentRow(3, "2021002", "钱药二", OTHER_COLLEGE, OTHER_CLASS, "班长"),
            StudentRow(4, "2021003", "周药三", OTHER_COLLEGE, OTHER_CLASS, "学生"),
        ],
        staff=[
            StaffRow(5, "T101", "吴辅导", "辅导员", "", (OTHER_CLASS,)),
            StaffRow(6, "T102", "郑班主", "班主任", "", (OTHER_CLASS,)),
            StaffRow(7, "T103", "冯学工", "学工办", OTHER_COLLEGE, ()),
        ],
    )
    now = app.clock.now()
    with app.uow() as s:
        import_roster(s, data, now)
        people = s.scalars(
            select(Person).where(Person.number.in_([*OTHER_PEOPLE.values(), "2021003"]))
        ).all()
        for p in people:
            p.consent_version = app.config.privacy.notice_version
            p.consent_at = now
            s.add(
                ChatAccount(
                    platform=platform,
                    platform_user_id=p.number,
                    person_id=p.id,
                    display_name=p.name,
                    bound_at=now,
                )
            )
        cls = next(p.school_class for p in people if p.school_class is not None)
        s.add(
            GroupChat(
                platform=platform,
                chat_id=OTHER_CLASS,
                class_id=cls.id,
                title=OTHER_CLASS,
                bound_at=now,
            )
        )


# Tables that bookkeeping (the inbound log, the audit log, the outbox with the refusal) may add
# to when a command is refused.
BOOKKEEPING = {"inbound_messages", "audit_log", "outbox"}


def row_counts(app: App) -> dict[str, int]:
    """Rows per data table: a refused command must leave these unchanged."""
    from sqlalchemy import func

    with app.uow(readonly=True) as s:
        return {
            t.name: int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
            if t.name not in BOOKKEEPING
        }


def declared_commands() -> list[Any]:
    """Every command the app declares; building the app touches no database."""
    app = build_app(load_config(None, database={"url": "sqlite://"}))
    commands = list(app.dispatcher.commands)
    app.engine.dispose()
    return commands


def seed_school(config: Config, when: datetime) -> None:
    """Put the demo school on the roster at `when`, before a test starts the bot later on."""
    app = build_app(config, ManualClock(when), scheduler=False)
    try:
        with app.uow() as session:
            demo.seed(
                session, when, platforms=("test",), consent_version=config.privacy.notice_version
            )
    finally:
        app.engine.dispose()


def roster_from_template(path: Path) -> Path:
    """The roster template with its examples as a real roster."""
    from storage import roster

    roster.write_template(path)
    return clear_example_marks(path)


def clear_example_marks(path: Path) -> Path:
    """A roster template's example rows made real: their 示例 marks cleared."""
    from openpyxl import load_workbook

    from storage import roster

    book = load_workbook(path)
    for ws in (book[roster.STUDENT_SHEET], book[roster.STAFF_SHEET]):
        for row in ws.iter_rows(min_row=2):
            row[-1].value = None
    book.save(path)
    return path


async def outbox_settled(app: App, within: float = 10.0) -> None:
    """Wait until the outbox has nothing due now that a sender could still send."""
    import asyncio
    import time

    from sqlalchemy import func

    from storage.models import OutboxMessage

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with app.uow(readonly=True) as s:
            left = s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.status.in_(("queued", "claimed", "sending")),
                    OutboxMessage.next_attempt_at <= app.clock.now(),
                )
            )
        if not left:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the outbox did not settle in time")
