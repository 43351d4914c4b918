"""心理委员 reports on the campaign engine: one campaign per period however many reps report
at once, only the 心理委员 counted, a zero report is a report, replaced reports keep every
version, and they go with the care retention."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.app import App
from storage import campaigns, care, identity
from storage.db import with_retry
from storage.identity import Actor
from storage.models import Campaign, CampaignResponse, CampaignResponseRevision, Person
from tests.conftest import TZ

MONDAY = date(2026, 11, 23)
AT = time(16, 0)


def _rep(app: App, number: str) -> Actor:
    with app.uow() as s:
        s.execute(update(Person).where(Person.number == number).values(psych_rep=True))
        return identity.actor_for_number(s, number)


def _report(app: App, actor: Actor, *, abnormal: bool = False, text: str | None = None) -> bool:
    with app.uow() as s:
        _cid, replaced = care.submit_report(
            s,
            actor,
            day=MONDAY + timedelta(days=2),
            period="weekly",
            at=AT,
            tz=TZ,
            abnormal=abnormal,
            text=text,
            now=app.clock.now(),
        )
        return replaced


def _campaign(app: App, period: str = "weekly") -> campaigns.Instance:
    with app.uow() as s:
        return care.period_campaign(s, day=MONDAY, period=period, at=AT, tz=TZ, now=app.clock.now())


async def test_the_period_campaign_is_due_at_the_reminder_time_and_named_by_its_start(
    app: App,
) -> None:
    weekly = _campaign(app)
    assert weekly.number == 20261123 and weekly.cadence == campaigns.Period.WEEKLY
    assert weekly.deadline == datetime(2026, 11, 27, 16, 0, tzinfo=TZ)  # Friday
    assert weekly.reminder_times == (weekly.deadline, weekly.deadline)
    monthly = _campaign(app, "monthly")
    assert monthly.number == 20261101 and monthly.cadence == campaigns.Period.MONTHLY
    assert monthly.deadline == datetime(2026, 11, 25, 16, 0, tzinfo=TZ)
    assert campaigns.current_key(monthly, monthly.opens_at, TZ) == "2026-11"
    # Asked again, the same campaign.
    assert _campaign(app).id == weekly.id
    # Never named by a typed id (进度 P20261123 finds nothing).
    with app.uow(readonly=True) as s:
        kinds = campaigns.KINDS.register(care.PSYCH)
        assert campaigns.by_ref(s, "P20261123", kinds) is None


async def test_concurrent_first_reports_open_one_campaign(app: App) -> None:
    reps = [_rep(app, n) for n in ("2020002", "2020004", "2020031", "2020032")]
    barrier = threading.Barrier(len(reps))
    errors: list[BaseException] = []

    def work(actor: Actor) -> None:
        try:
            barrier.wait()
            with_retry(lambda: _report(app, actor))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(a,)) for a in reps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 1
        assert s.scalar(select(func.count()).select_from(CampaignResponse)) == 4


async def test_only_the_psych_reps_are_asked_and_a_zero_report_counts(app: App) -> None:
    rep = _rep(app, "2020002")  # 护理172 (with the demo's 2020004)
    _rep(app, "2020031")  # 检验172
    assert _report(app, rep) is False
    c = _campaign(app)
    key = campaigns.current_key(c, c.opens_at, TZ)
    with app.uow(readonly=True) as s:
        missing = {
            m.code: [p.number for p in m.missing] for m in campaigns.non_responders(s, c, key)
        }
        progress = campaigns.progress(s, c, key)
        ordinary = s.scalar(select(Person).where(Person.number == "2020001"))
        assert ordinary is not None and not campaigns.covers(s, c, ordinary)
        assert len(campaigns.students_of(s, c)) == 3
    assert missing == {"护理172": ["2020004"], "检验172": ["2020031"]}
    assert (progress.total.done, progress.total.of) == (1, 3)
    assert [(n.label, n.done, n.of) for _, n in progress.classes] == [
        ("护理172", 1, 2),
        ("检验172", 0, 1),
    ]


async def test_a_second_report_replaces_the_first_and_keeps_a_revision(app: App) -> None:
    rep = _rep(app, "2020002")
    assert _report(app, rep) is False
    assert _report(app, rep, abnormal=True, text="有同学连续失眠一周") is True
    c = _campaign(app)
    key = campaigns.current_key(c, c.opens_at, TZ)
    with app.uow(readonly=True) as s:
        assert campaigns.response(s, c, key, rep.person_id) == {
            "abnormal": True,
            "text": "有同学连续失眠一周",
        }
        assert campaigns.revisions(s, c, key, rep.person_id) == [
            {"abnormal": False, "text": None},
            {"abnormal": True, "text": "有同学连续失眠一周"},
        ]


async def test_an_ordinary_student_cannot_report_and_nothing_is_stored(app: App) -> None:
    with app.uow(readonly=True) as s:
        actor = identity.actor_for_number(s, "2020001")
    with pytest.raises(care.NotPsychRep):
        _report(app, actor)
    with app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0


async def test_reports_go_with_the_care_retention_and_the_purge_is_audited(app: App) -> None:
    rep = _rep(app, "2020002")
    _report(app, rep)
    _report(app, rep, abnormal=True, text="有同学连续失眠一周")
    now = app.clock.now()
    with app.uow() as s:
        assert care.purge(s, now - timedelta(days=1), now=now) == 0
    with app.uow() as s:
        assert care.purge(s, now + timedelta(seconds=1), now=now) == 1
    with app.uow(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(CampaignResponse)) == 0
        assert s.scalar(select(func.count()).select_from(CampaignResponseRevision)) == 0
        # The campaign row stays, for its counts' sake.
        assert s.scalar(select(func.count()).select_from(Campaign)) == 1
