"""The delivery log's transitions: claims taken over after the lease, sent only while held."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.testing import TestAdapter
from bot.app import App
from bot.clock import ManualClock
from bot.messages import ChatAddress, Envelope, OutgoingMessage
from schedules.runner import Fixed, Job, JobRunner, Planned, Run, Slot
from storage import deliveries
from storage.db import transaction
from storage.deliveries import CLAIM_LEASE, Status
from storage.models import Delivery
from tests.conftest import TZ

DAY = date(2026, 11, 23)
NOON = datetime.combine(DAY, time(12), tzinfo=TZ)


def rows(app: App, job: str) -> dict[str, str]:
    with app.uow(readonly=True) as s:
        found = s.execute(
            select(Delivery.scope, Delivery.status).where(Delivery.job == job, Delivery.day == DAY)
        )
        return {scope: status for scope, status in found}


def claim_all(app: App, scopes: list[str], now: datetime) -> dict[str, deliveries.Claim]:
    with transaction(app.engine) as conn:
        return deliveries.claim_all(conn, "t", scopes, DAY, now)


def start(app: App, claim: deliveries.Claim) -> bool:
    with transaction(app.engine) as conn:
        return deliveries.start_queueing(conn, claim)


async def test_claim_all_takes_new_and_stale_claims_but_not_held_ones(app: App) -> None:
    first = claim_all(app, ["a", "b", "c"], NOON)
    assert sorted(first) == ["a", "b", "c"]
    assert start(app, first["a"])
    # Within the lease nothing is claimable again; "d" is new.
    assert sorted(claim_all(app, ["a", "b", "c", "d"], NOON + timedelta(minutes=1))) == ["d"]
    # Past the lease the claims that never got to sending are taken over; "a" never again.
    later = NOON + CLAIM_LEASE + timedelta(minutes=1)
    taken = claim_all(app, ["a", "b", "c"], later)
    assert sorted(taken) == ["b", "c"]
    assert taken["b"].id == first["b"].id and taken["b"].claimed_at == later
    assert rows(app, "t") == {"a": "queued", "b": "claimed", "c": "claimed", "d": "claimed"}


async def test_a_claim_taken_over_is_not_sent_by_the_slow_run(app: App) -> None:
    mine = claim_all(app, ["a"], NOON)["a"]
    theirs = claim_all(app, ["a"], NOON + CLAIM_LEASE + timedelta(seconds=1))["a"]
    assert not start(app, mine)
    assert start(app, theirs)
    assert not start(app, theirs)


def envelope(text: str) -> Envelope:
    return Envelope(ChatAddress("test", "G1", True), OutgoingMessage(text))


async def test_a_failing_build_leaves_only_its_own_claim_and_the_rest_for_the_next_run(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    fail = True

    def flaky(_session: Session) -> list[Envelope]:
        if fail:
            raise RuntimeError("boom")
        return [envelope("two")]

    def plan(_run: Run) -> list[Planned]:
        return [
            Planned("one", Fixed([envelope("one")])),
            Planned("two", flaky),
            Planned("three", Fixed([envelope("three")])),
        ]

    job = Job("flaky", lambda _config: {time(12): Slot(school=True)}, plan)
    runner = JobRunner(app, [job])
    clock.set(NOON)
    bot.clear()
    await runner.run_due()  # the failure is logged, not raised
    assert [s.text for s in bot.sent] == ["one"]
    assert rows(app, "flaky") == {"one": "sent", "two": "claimed"}

    fail = False
    await runner.run_due()
    assert [s.text for s in bot.sent] == ["one", "three"]
    clock.set(NOON + CLAIM_LEASE + timedelta(seconds=1))
    await runner.run_due()
    assert [s.text for s in bot.sent] == ["one", "three", "two"]
    assert rows(app, "flaky") == {"one": "sent", "two": "sent", "three": "sent"}
    await runner.run_due()
    assert len(bot.sent) == 3


@pytest.mark.parametrize("status", [Status.SENT, Status.UNREACHABLE])
async def test_mark_on_a_connection_records_sent_at(app: App, status: Status) -> None:
    claim = claim_all(app, ["a"], NOON)["a"]
    assert start(app, claim)
    with transaction(app.engine) as conn:
        deliveries.mark(conn, claim.id, status, NOON, "why")
    with app.uow(readonly=True) as s:
        d = s.get(Delivery, claim.id)
        assert d is not None and (d.status, d.sent_at, d.detail) == (status.value, NOON, "why")


async def test_one_claim_at_a_time_each_with_the_outcome_of_the_one_before(
    app: App, bot: TestAdapter, clock: ManualClock
) -> None:
    seen: list[dict[str, str]] = []

    def watching(_session: Session) -> list[Envelope]:
        # While "two" is built, "one" is already recorded as sent and "three" not claimed:
        # a process dying now leaves a single claim for the lease to free.
        seen.append(rows(app, "watched"))
        return [envelope("two")]

    def plan(_run: Run) -> list[Planned]:
        return [
            Planned("one", Fixed([envelope("one")])),
            Planned("two", watching),
            Planned("three", Fixed([envelope("three")])),
        ]

    runner = JobRunner(app, [Job("watched", lambda _config: {time(12): Slot(school=True)}, plan)])
    clock.set(NOON)
    bot.clear()
    await runner.run_due()
    assert seen == [{"one": "sent", "two": "claimed"}]
    assert rows(app, "watched") == {"one": "sent", "two": "sent", "three": "sent"}
    assert [s.text for s in bot.sent] == ["one", "two", "three"]


async def test_claim_one_claims_new_takes_over_stale_and_refuses_held(app: App) -> None:
    def one(now: datetime) -> deliveries.Claim | None:
        with transaction(app.engine) as conn:
            return deliveries.claim_one(conn, "t", "a", DAY, now)

    first = one(NOON)
    assert first is not None
    assert one(NOON + timedelta(minutes=1)) is None
    later = NOON + CLAIM_LEASE + timedelta(seconds=1)
    taken = one(later)
    assert taken is not None and taken.id == first.id and taken.claimed_at == later
    assert not start(app, first) and start(app, taken)
    assert one(later + CLAIM_LEASE * 2) is None
