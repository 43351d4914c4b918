"""Schema migrations."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import ManualClock
from storage import db, demo
from storage.models import Base
from tests.conftest import make_config, start_app
from tests.handlers.people import leave_rows, notes_of, private_to, subsidy_rows

# The schema just before the workflow engine's migration, where leave and subsidy had tables
# of their own.
BEFORE_ENGINE = str(
    ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_revision("0008").down_revision
)


def test_migrations_apply_to_an_empty_database_and_match_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_migrations_leave_nothing_for_autogenerate(migrated_template: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = migrated_template if "://" in migrated_template else f"sqlite:///{migrated_template}"
    engine = db.make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    db.upgrade(url)
    db.upgrade(url)
    assert Path(tmp_path / "twice.db").exists()


def _old_rows(url: str) -> None:
    """Leave requests, a follow-up and subsidy applications as the schema before 0008 held
    them: L37 decided and followed up, L38 pending, S12 waiting at the college step, S13
    rejected by the college office."""
    engine = db.make_engine(url)
    people = "SELECT id FROM people WHERE number = :n"
    with engine.begin() as conn:

        def pid(number: str) -> int:
            return int(conn.execute(text(people), {"n": number}).scalar_one())

        student, other, counselor, office = (pid(n) for n in ("2020001", "2020003", "T001", "T003"))
        cls = conn.execute(
            text("SELECT class_id FROM people WHERE id = :i"), {"i": student}
        ).scalar_one()
        at = datetime(2026, 11, 20, 1, 0)
        leave = (
            "INSERT INTO leave_requests (id, student_id, class_id, kind, start_date, end_date,"
            " reason, status, created_at, decided_by, decided_at, decision_note, ended_at)"
            " VALUES (:id, :s, :c, :k, :a, :b, :r, :st, :at, :d, :dat, :note, NULL)"
        )
        conn.execute(
            text(leave),
            dict(
                id=37,
                s=student,
                c=cls,
                k="sick",
                a=date(2026, 11, 24),
                b=date(2026, 11, 25),
                r="发烧就医",
                st="approved",
                at=at,
                d=counselor,
                dat=at,
                note=None,
            ),
        )
        conn.execute(
            text(leave),
            dict(
                id=38,
                s=other,
                c=cls,
                k="personal",
                a=date(2026, 11, 26),
                b=date(2026, 11, 26),
                r="回家",
                st="pending",
                at=at,
                d=None,
                dat=None,
                note=None,
            ),
        )
        conn.execute(
            text(
                "INSERT INTO leave_followups (leave_id, author_id, note, created_at)"
                " VALUES (37, :a, '已就医', :at)"
            ),
            {"a": counselor, "at": at},
        )
        subsidy = (
            "INSERT INTO subsidy_applications (id, student_id, class_id, amount_cents,"
            " approved_cents, reason, status, created_at, counselor_id, counselor_at,"
            " college_admin_id, college_at, reject_reason)"
            " VALUES (:id, :s, :c, 80000, :ap, '家庭困难', :st, :at, :co, :at, :ad, :cat, :rr)"
        )
        conn.execute(
            text(subsidy),
            dict(
                id=12,
                s=student,
                c=cls,
                ap=50000,
                st="pending_college",
                at=at,
                co=counselor,
                ad=None,
                cat=None,
                rr=None,
            ),
        )
        conn.execute(
            text(subsidy),
            dict(
                id=13,
                s=other,
                c=cls,
                ap=60000,
                st="rejected",
                at=at,
                co=counselor,
                ad=office,
                cat=at,
                rr="材料不全",
            ),
        )
    engine.dispose()


async def test_upgrade_moves_leave_and_subsidy_rows_and_keeps_their_ids(
    tmp_path: Path, clock: ManualClock
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db.upgrade(url, BEFORE_ENGINE)
    engine = db.make_engine(url)
    with Session(engine) as session, session.begin():
        demo.seed(session, clock.now(), platforms=("test",), consent_version=1)
    engine.dispose()
    _old_rows(url)
    db.upgrade(url)

    app, bot = await start_app(make_config(url), clock, seed=False)
    try:
        leaves = {r.number: r for r in leave_rows(app)}
        assert set(leaves) == {37, 38}
        assert (leaves[37].kind, leaves[37].status, leaves[37].reason) == (
            "sick",
            "approved",
            "发烧就医",
        )
        assert (leaves[37].start_date, leaves[37].end_date) == (
            date(2026, 11, 24),
            date(2026, 11, 25),
        )
        assert leaves[37].decided_by is not None and leaves[38].status == "pending"
        assert [n.note for n in notes_of(app, "followup")] == ["已就医"]
        subsidies = {r.number: r for r in subsidy_rows(app)}
        assert (subsidies[12].status, subsidies[12].approved_cents) == ("pending_college", 50000)
        assert subsidies[12].counselor_id is not None
        assert (subsidies[13].status, subsidies[13].reject_reason) == ("rejected", "材料不全")
        assert subsidies[13].college_admin_id is not None

        # The moved requests are live: their old ids work, and new ones continue after them.
        async def reply_to(who: str, text: str) -> str:
            [reply] = private_to(await bot.say(who, text), who)
            return reply.text

        assert (await reply_to("T001", "批准 L38")).startswith("✓ 已批准请假 L38")
        assert (await reply_to("T003", "批准 S12")).startswith("✓ 已批准补助申请 S12")
        assert (await reply_to("2020005", "请假 11-30 事假 回家")).startswith("请假 L39 已提交")
        assert (await reply_to("2020003", "补助 500 学费")).startswith("✓ 已提交补助申请 S14")
    finally:
        await app.stop()
        app.engine.dispose()


def test_a_moved_open_application_still_blocks_a_second_one(
    tmp_path: Path, clock: ManualClock
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db.upgrade(url, BEFORE_ENGINE)
    engine = db.make_engine(url)
    with Session(engine) as session, session.begin():
        demo.seed(session, clock.now(), platforms=("test",), consent_version=1)
    engine.dispose()
    _old_rows(url)
    db.upgrade(url)
    engine = db.make_engine(url)
    with engine.begin() as conn:
        student = conn.execute(text("SELECT id FROM people WHERE number = '2020001'")).scalar_one()
        [(exclusive,)] = conn.execute(
            text("SELECT exclusive FROM requests WHERE kind = 'subsidy' AND number = 12")
        ).all()
        assert exclusive
        with pytest.raises(IntegrityError):
            conn.execute(
                text(
                    "INSERT INTO requests (kind, number, student_id, class_id, status, created_at,"
                    " changed_at, exclusive, payload) SELECT 'subsidy', 99, id, class_id,"
                    " 'pending_counselor', created_at, created_at, 1, '{}' FROM people"
                    " WHERE id = :s"
                ),
                {"s": student},
            )
    engine.dispose()


def test_downgrade_puts_the_rows_back_under_their_ids(tmp_path: Path, clock: ManualClock) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db.upgrade(url, BEFORE_ENGINE)
    engine = db.make_engine(url)
    with Session(engine) as session, session.begin():
        demo.seed(session, clock.now(), platforms=("test",), consent_version=1)
    engine.dispose()
    _old_rows(url)
    db.upgrade(url)
    command.downgrade(db.alembic_config(url), BEFORE_ENGINE)
    engine = db.make_engine(url)
    with engine.connect() as conn:
        leaves = conn.execute(text("SELECT id, status FROM leave_requests ORDER BY id")).all()
        notes = conn.execute(text("SELECT leave_id, note FROM leave_followups")).all()
        subsidies = conn.execute(
            text("SELECT id, status, reject_reason FROM subsidy_applications ORDER BY id")
        ).all()
    engine.dispose()
    assert [tuple(r) for r in leaves] == [(37, "approved"), (38, "pending")]
    assert [tuple(r) for r in notes] == [(37, "已就医")]
    assert [tuple(r) for r in subsidies] == [
        (12, "pending_college", None),
        (13, "rejected", "材料不全"),
    ]


def test_the_outbox_upgrade_expires_deliveries_the_old_code_left_sending(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db.upgrade(url, "0001")
    engine = db.make_engine(url)
    with engine.begin() as conn:
        for scope, status in (("person:1", "sending"), ("person:2", "sent")):
            conn.execute(
                text(
                    "INSERT INTO deliveries (job, scope, day, status, claimed_at)"
                    " VALUES ('rollup', :scope, '2026-11-23', :status, '2026-11-23 04:00:00')"
                ),
                {"scope": scope, "status": status},
            )
    with caplog.at_level(logging.WARNING):
        db.upgrade(url)
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT scope, status || ':' || coalesce(detail, '') FROM deliveries")
        )
        rows: dict[str, str] = {scope: state for scope, state in found}
    engine.dispose()
    assert rows == {"person:1": "expired:status unknown before upgrade", "person:2": "sent:"}
    assert "1 scheduled deliveries were left sending" in caplog.text


def test_psych_reports_move_onto_the_campaign_engine_and_back(
    tmp_path: Path, clock: ManualClock
) -> None:
    from sqlalchemy import select, update

    from storage import campaigns, care
    from storage.models import Person

    url = f"sqlite:///{tmp_path / 'psych.db'}"
    db.upgrade(url, "0012")
    engine = db.make_engine(url)
    with Session(engine) as session, session.begin():
        demo.seed(session, clock.now(), platforms=("test",), consent_version=1)
        session.execute(update(Person).where(Person.number == "2020002").values(psych_rep=True))
        rep = session.scalar(select(Person.id).where(Person.number == "2020002"))
        other = session.scalar(select(Person.id).where(Person.number == "2020004"))
        cls = session.scalar(select(Person.class_id).where(Person.number == "2020002"))
        assert rep is not None and other is not None
    with engine.begin() as conn:
        for reporter, start, abnormal, body in (
            (rep, "2026-11-16", 0, None),
            (rep, "2026-11-23", 1, "有同学连续失眠一周"),
            (other, "2026-11-23", 0, None),
        ):
            conn.execute(
                text(
                    "INSERT INTO psych_reports (reporter_id, class_id, period_start, abnormal,"
                    " text, created_at, updated_at) VALUES (:r, :c, :s, :a, :t,"
                    " '2026-11-24 02:00:00.000000', '2026-11-24 03:00:00.000000')"
                ),
                {"r": reporter, "c": cls, "s": start, "a": abnormal, "t": body},
            )
    engine.dispose()
    db.upgrade(url)
    engine = db.make_engine(url)
    kinds = campaigns.KINDS.register(care.PSYCH)
    with Session(engine) as session:
        assert "psych_reports" not in inspect(engine).get_table_names()
        week = campaigns.find(session, care.PSYCH, 20261123, kinds)
        earlier = campaigns.find(session, care.PSYCH, 20261116, kinds)
        assert campaigns.response(session, week, "2026-W48", rep) == {
            "abnormal": True,
            "text": "有同学连续失眠一周",
        }
        assert campaigns.response(session, week, "2026-W48", other) == {
            "abnormal": False,
            "text": None,
        }
        assert campaigns.revisions(session, earlier, "2026-W47", rep) == [
            {"abnormal": False, "text": None}
        ]
        # Counted as the engine counts them: 2 of 护理172's reps reported this week.
        [(_college, count), *_] = campaigns.progress(session, week, "2026-W48").classes
        assert (count.label, count.done, count.of) == ("护理172", 2, 2)
    engine.dispose()
    command.downgrade(db.alembic_config(url), "0012")
    engine = db.make_engine(url)
    with engine.connect() as conn:
        back = conn.execute(
            text(
                "SELECT reporter_id, period_start, abnormal, text FROM psych_reports"
                " ORDER BY period_start, reporter_id"
            )
        ).all()
        left = conn.execute(text("SELECT count(*) FROM campaigns WHERE kind = 'psych'")).scalar()
    engine.dispose()
    assert [tuple(r) for r in back] == [
        (rep, "2026-11-16", 0, None),
        (rep, "2026-11-23", 1, "有同学连续失眠一周"),
        (other, "2026-11-23", 0, None),
    ]
    assert left == 0
