"""The campaign engine: create, respond (once under concurrent duplicates), who has not
answered, and the class → college → school roll-up against hand-computed counts."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from bot.app import App
from storage import campaigns, identity
from storage.campaigns import NOTICE, Audience, Period, period_key
from storage.forms import Field, FieldType, Form
from storage.models import CampaignResponse, CampaignResponseRevision, Person
from tests.conftest import OTHER_CLASS, seed_other_college


def _person(app: App, number: str) -> Person:
    with app.uow(readonly=True) as s:
        p = identity.find_person(s, number)
        assert p is not None
        s.expunge(p)
        return p


def _class(app: App, code: str) -> int:
    with app.uow(readonly=True) as s:
        cls = identity.class_by_code(s, code)
        assert cls is not None
        return cls.id


def _start(app: App, audience: Audience, form: Form | None = None) -> campaigns.Instance:
    now = app.clock.now()
    with app.uow() as s:
        return campaigns.create(
            s,
            NOTICE,
            title="告家长的一封信",
            audience=audience,
            deadline=now + timedelta(hours=8),
            now=now,
            created_by=None,
            form=form,
            body="请转告家长",
        )


def _answer(
    app: App, c: campaigns.Instance, number: str, answers: dict[str, object] | None = None
) -> int:
    p = _person(app, number)
    assert p.class_id is not None
    with app.uow() as s:
        return campaigns.respond(
            s,
            c,
            person_id=p.id,
            class_id=p.class_id,
            answers=answers or {},
            now=app.clock.now(),
            key="once",
        ).revision


def test_a_kinds_sheet_is_titled_in_the_readers_language() -> None:
    assert NOTICE.sheet_title("zh") == "通知确认"
    assert NOTICE.sheet_title("en") == "Notice confirmations"
    assert campaigns.HEALTH.sheet_title("en") == "Check-ins"
    plain = replace(NOTICE, sheet=None)
    assert plain.sheet_title("en") == "Notice" and plain.sheet_title("zh") == "通知"
    assert replace(NOTICE, sheet="确认").sheet_title("en") == "确认"


def test_period_keys() -> None:
    day = date(2026, 12, 2)
    assert period_key(Period.DAILY, day) == "2026-12-02"
    assert period_key(Period.WEEKLY, day) == "2026-W49"
    assert period_key(Period.ONCE, day) == "once"


async def test_campaigns_get_typed_ids_in_order(app: App) -> None:
    first = _start(app, Audience(school=True))
    second = _start(app, Audience(school=True))
    assert (first.ref, second.ref) == ("N1", "N2")
    with app.uow(readonly=True) as s:
        assert campaigns.by_ref(s, "n2") == second
        assert campaigns.by_ref(s, "L2") is None
        assert [c.ref for c in campaigns.open_campaigns(s, [NOTICE])] == ["N1", "N2"]


async def test_a_response_replaced_keeps_every_version(app: App) -> None:
    form = Form((Field("city", "去向", "Destination", FieldType.TEXT),))
    c = _start(app, Audience(school=True), form)
    assert _answer(app, c, "2020001", {"city": "湖北恩施"}) == 1
    assert _answer(app, c, "2020001", {"city": "湖北武汉"}) == 2
    p = _person(app, "2020001")
    with app.uow(readonly=True) as s:
        assert campaigns.response(s, c, "once", p.id) == {"city": "湖北武汉"}
        assert campaigns.revisions(s, c, "once", p.id) == [
            {"city": "湖北恩施"},
            {"city": "湖北武汉"},
        ]
        assert (
            campaigns.as_instance(
                s.scalars(select(campaigns.Campaign)).first()  # type: ignore[arg-type]
            ).form
            == form
        )


async def test_concurrent_duplicates_store_one_response(app: App) -> None:
    c = _start(app, Audience(school=True))
    p = _person(app, "2020001")
    assert p.class_id is not None
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            with app.uow() as s:
                campaigns.respond(
                    s,
                    c,
                    person_id=p.id,
                    class_id=p.class_id or 0,
                    answers={},
                    now=app.clock.now(),
                    key="once",
                )
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    from storage.db import with_retry

    threads = [threading.Thread(target=lambda: with_retry(lambda: work())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(CampaignResponse)) == 1
        revs = s.scalars(
            select(CampaignResponseRevision.revision).order_by(CampaignResponseRevision.revision)
        ).all()
    assert list(revs) == [1, 2, 3, 4]


async def test_non_responders_per_class_in_one_list(app: App) -> None:
    seed_other_college(app)
    c = _start(app, Audience(school=True))
    for number in ("2020001", "2020002", "2020031"):
        _answer(app, c, number)
    with app.uow(readonly=True) as s:
        found = {m.code: m for m in campaigns.non_responders(s, c, "once")}
        narrowed = campaigns.non_responders(s, c, "once", [_class(app, "护理172")])
    assert set(found) == {"护理172", "检验172", OTHER_CLASS}
    assert len(found["护理172"].missing) == 28
    assert "2020001" not in {m.number for m in found["护理172"].missing}
    assert len(found["检验172"].missing) == 29
    assert [m.number for m in found[OTHER_CLASS].missing] == ["2021001", "2021002", "2021003"]
    assert [n.code for n in narrowed] == ["护理172"]


async def test_roll_up_matches_hand_computed_counts_with_zero_rows(app: App) -> None:
    # 护理172: 30 students, 3 answer; 检验172: 30, 1 answers; 药学181: 3, none.
    seed_other_college(app)
    c = _start(app, Audience(school=True))
    for number in ("2020001", "2020002", "2020003", "2020031"):
        _answer(app, c, number)
    with app.uow(readonly=True) as s:
        p = campaigns.progress(s, c, "once")
        college = campaigns.progress(s, c, "once", [_class(app, "护理172"), _class(app, "检验172")])
    assert [(college, n.label, n.done, n.of) for college, n in p.classes] == [
        ("医学院", "护理172", 3, 30),
        ("医学院", "检验172", 1, 30),
        ("药学院", OTHER_CLASS, 0, 3),
    ]
    assert [(n.label, n.done, n.of) for n in p.colleges] == [("医学院", 4, 60), ("药学院", 0, 3)]
    assert (p.total.done, p.total.of, p.total.missing) == (4, 63, 59)
    assert (college.total.done, college.total.of) == (4, 60)


async def test_a_class_audience_counts_only_its_classes(app: App) -> None:
    seed_other_college(app)
    c = _start(app, Audience(class_ids=frozenset({_class(app, "检验172")})))
    _answer(app, c, "2020031")
    with app.uow(readonly=True) as s:
        p = campaigns.progress(s, c, "once")
        student = s.get(Person, _person(app, "2020001").id)
        assert student is not None
        assert campaigns.open_for_student(s, student, NOTICE) == []
    assert [(n.label, n.done, n.of) for _, n in p.classes] == [("检验172", 1, 30)]


async def test_a_tag_audience_is_private_and_counts_its_students(app: App) -> None:
    ids = frozenset({_person(app, "2020001").id, _person(app, "2020031").id})
    c = _start(app, Audience(tag="建档立卡", students=ids))
    assert c.in_groups is False
    _answer(app, c, "2020001")
    with app.uow(readonly=True) as s:
        p = campaigns.progress(s, c, "once")
        missing = campaigns.non_responders(s, c, "once")
    assert [(n.label, n.done, n.of) for _, n in p.classes] == [("护理172", 1, 1), ("检验172", 0, 1)]
    assert [[m.number for m in cm.missing] for cm in missing] == [[], ["2020031"]]


async def test_closed_campaigns_are_not_open(app: App) -> None:
    c = _start(app, Audience(school=True))
    with app.uow() as s:
        assert campaigns.close(s, c, app.clock.now())
        assert not campaigns.close(s, c, app.clock.now())
        assert campaigns.open_campaigns(s) == []


async def test_purge_deletes_responses_past_the_kinds_retention(app: App) -> None:
    c = _start(app, Audience(school=True))
    _answer(app, c, "2020001")
    with app.uow() as s:
        assert campaigns.purge(s, c.deadline + timedelta(days=NOTICE.retention_days or 0)) == 0
        assert (
            campaigns.purge(s, c.deadline + timedelta(days=(NOTICE.retention_days or 0) + 1)) == 1
        )
        assert s.scalar(select(func.count()).select_from(CampaignResponseRevision)) == 0


async def test_health_reads_the_checkins_table(app: App, bot: object) -> None:
    from bot.adapters.testing import TestAdapter

    assert isinstance(bot, TestAdapter)
    await bot.say("2020001", "打卡 36.5")
    day = app.clock.now().astimezone(app.config.tz).date()
    c = campaigns.health_instance(day, datetime.now(app.config.tz), app.config.tz)
    with app.uow(readonly=True) as s:
        p = campaigns.progress(s, c, day.isoformat())
        missing = campaigns.non_responders(s, c, day.isoformat())
    assert [(n.label, n.done, n.of) for _, n in p.classes] == [
        ("护理172", 1, 30),
        ("检验172", 0, 30),
    ]
    assert len(missing[0].missing) == 29


async def test_the_ledger_sheet_keeps_text_as_text_and_hides_sensitive_answers(app: App) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    from storage.ledger import LedgerScope, campaign_book

    form = Form(
        (
            Field("dest", "去向", "Destination", FieldType.TEXT),
            Field("illness", "病史", "Illness", FieldType.TEXT, sensitive=True),
            Field("days", "天数", "Days", FieldType.NUMBER, required=False),
        )
    )
    c = _start(app, Audience(class_ids=frozenset({_class(app, "护理172")})), form)
    _answer(app, c, "2020001", {"dest": "=1+1", "illness": "哮喘", "days": 3})
    scope = LedgerScope("护理172", frozenset({_class(app, "护理172")}))

    def sheet(include: bool) -> list[tuple[object, ...]]:
        with app.uow(readonly=True) as s:
            book = campaign_book(s, c, "once", app.config.tz, scope, include_sensitive=include)
        assert book.filename == "N1-护理172.xlsx" and book.rows == 30
        ws = load_workbook(BytesIO(book.content)).worksheets[0]
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", cell.coordinate
        return [tuple(c.value for c in row) for row in ws.iter_rows()]

    rows = sheet(False)
    assert rows[0] == ("学院", "班级", "学号", "姓名", "状态", "提交时间", "去向", "病史", "天数")
    first = rows[1]
    assert first[:5] == ("医学院", "护理172", "2020001", "张晓明", "已提交")
    assert first[6:] == ("=1+1", "（敏感，仅限有权限者）", 3)
    assert rows[2][4] == "未提交" and rows[2][6:] == (None, None, None)
    assert "哮喘" not in str(rows)
    assert sheet(True)[1][7] == "哮喘"
