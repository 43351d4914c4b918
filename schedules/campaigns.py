"""Campaign reminders: before each open campaign's deadline and at it, its non-responders are
@-mentioned in their class group (names only) and listed privately to their class staff and
to whoever started it, who also gets the final roll-up at the deadline. The campaign closes
after its last reminder.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.config import Config
from bot.dates import day_label
from bot.messages import ChatAddress, Envelope, Mention, OutgoingMessage, PersonAddress
from bot.texts import Text
from handlers.notice_texts import NoticeTexts
from schedules.runner import Fixed, Job, Planned, Run, Slot
from storage import campaigns, care_access, reports
from storage.campaigns import CampaignTexts, Instance, Reminders
from storage.db import with_retry
from storage.models import GroupChat, Person, Role

if TYPE_CHECKING:
    from bot.app import App

BEFORE = "before"
DUE = "due"


def verb_of(c: Instance) -> Text:
    """What a student of this kind does: its own verb (填写 a collection, 提交 a report), or
    确认 a notice."""
    return c.kind.verb if c.kind.verb is not None else NoticeTexts.verb


def _when(at: datetime, config: Config) -> str:
    local = at.astimezone(config.tz)
    return f"{day_label(local.date(), config.bot.language)} {local:%H:%M}"


def stages(c: Instance) -> list[tuple[str, datetime]]:
    """The campaign's reminders: the first (unless the campaign opened after it), the last."""
    first, last = c.reminder_times
    out = [(BEFORE, first)] if first > c.opens_at else []
    return [*out, (DUE, last)]


def reminder_times(app: App, day: date) -> Iterable[time]:
    """The local times on a day at which an open campaign has a reminder."""
    tz = app.config.tz
    with app.uow(readonly=True) as session:
        found = campaigns.open_campaigns(session, kinds_reg=app.dispatcher.campaign_kinds)
    return sorted(
        {
            at.astimezone(tz).time().replace(second=0, microsecond=0)
            for c in found
            if c.kind.numbered
            for _, at in stages(c)
            if at.astimezone(tz).date() == day
        }
    )


def plan_reminders(run: Run) -> list[Planned]:
    app = run.app
    config = run.config
    now = app.clock.now()
    grace = config.schedule.grace
    planned: list[Planned] = []
    with app.uow(readonly=True) as session:
        for c in campaigns.open_campaigns(session, kinds_reg=app.dispatcher.campaign_kinds):
            if not c.kind.numbered:
                continue
            due = [
                (stage, at)
                for stage, at in stages(c)
                if at.astimezone(config.tz).date() == run.day and at <= now and now - at <= grace
            ]
            if not due:
                continue
            # A run that finds both due (the bot was down) says only the last.
            stage, _at = due[-1]
            planned += _plan_one(session, run, c, stage)
    return planned


def _plan_one(session: Session, run: Run, c: Instance, stage: str) -> list[Planned]:
    app = run.app
    config = run.config
    lang = config.bot.language
    key = campaigns.current_key(c, c.deadline, config.tz)
    missing = campaigns.non_responders(session, c, key)
    progress = campaigns.progress(session, c, key)
    verb = verb_of(c)
    deadline = _when(c.deadline, config)
    planned: list[Planned] = []
    by_class = {m.class_id: m for m in missing}
    # Reminders name non-responders in their group even where answers are taken privately
    # (a collection); a campaign aimed at a care category is never spoken of there.
    if c.kind.reminders is Reminders.GROUP and not c.audience.private_only:
        classes = campaigns.audience_classes(session, c.audience)
        groups = campaigns.groups_in(session, classes, list(app.adapters))
        ids = [s.id for m in missing for s in m.missing]
        accounts = {
            platform: reports.accounts_on(session, platform, ids)
            for platform in {g.platform for g in groups}
        }
        for g in groups:
            cm = by_class.get(g.class_id)
            if cm is None:
                continue
            message = _group_message(c, stage, cm, accounts[g.platform], verb, deadline, lang)
            envelope = Envelope(ChatAddress(g.platform, g.chat_id, True), message)
            planned.append(Planned(_scope(c, stage, g), Fixed([envelope])))
    if c.kind.care or c.audience.private_only:
        # Nothing is said in a group: each non-responder is reminded alone.
        planned += _remind_privately(run, c, stage, missing, deadline)
    lagging = {m.class_id for m in missing}
    if c.kind.care:
        staff = _care_readers(session, lagging, config)
    elif c.audience.private_only:
        # Who a care category names is a care record: their counselors hear of it, a head
        # teacher does not.
        staff = campaigns.class_staff(session, lagging, roles=(Role.COUNSELOR,))
    else:
        staff = campaigns.class_staff(session, lagging)
    recipients: dict[int, list[int] | None] = {pid: cids for pid, (_p, cids) in staff.items()}
    if c.created_by is not None:
        # Whoever started it hears of every class of it.
        recipients[c.created_by] = None
    for pid, cids in recipients.items():
        lines = _staff_text(c, stage, missing, progress, cids, verb, deadline, lang)
        envelope = Envelope(PersonAddress(pid), OutgoingMessage(lines))
        planned.append(Planned(f"{c.ref}:{stage}:p{pid}", Fixed([envelope])))
    if stage == DUE:
        planned.append(Planned(f"{c.ref}:close", _Close(app, c)))
    return planned


def _remind_privately(
    run: Run, c: Instance, stage: str, missing: list[campaigns.ClassNonResponders], deadline: str
) -> list[Planned]:
    """Each non-responder alone, in private chat: a care kind's own reminder, or the
    engine's for a campaign aimed at a care category."""
    lang = run.config.bot.language
    if c.kind.reminder is not None:
        text = c.kind.reminder(lang, title=c.title, deadline=deadline)
    else:
        head = CampaignTexts.private_reminder if stage == BEFORE else CampaignTexts.private_due
        text = head(lang, title=c.title, ref=c.ref, deadline=deadline, verb=verb_of(c)(lang))
    return [
        Planned(
            f"{c.ref}:{stage}:r{s.id}",
            Fixed([Envelope(PersonAddress(s.id), OutgoingMessage(text))]),
        )
        for m in missing
        for s in m.missing
    ]


def _care_readers(
    session: Session, class_ids: set[int], config: Config
) -> dict[int, tuple[Person, list[int]]]:
    """Who reads a care kind's list: each class's care readers (its counselors and its
    college's mental-health contacts), each with their classes among these."""
    out: dict[int, tuple[Person, list[int]]] = {}
    readers = care_access.classes_care_readers(
        session, class_ids, contacts=config.care.mental_health_contacts
    )
    for cid in sorted(readers):
        for person in readers[cid]:
            out.setdefault(person.id, (person, []))[1].append(cid)
    return out


def _scope(c: Instance, stage: str, g: GroupChat) -> str:
    return f"{c.ref}:{stage}:g{g.id}"


def _group_message(
    c: Instance,
    stage: str,
    cm: campaigns.ClassNonResponders,
    accounts: dict[int, str],
    verb: Text,
    deadline: str,
    lang: str,
) -> OutgoingMessage:
    """Names and @-mentions only: never a 学号, never an answer."""
    params = {"title": c.title, "ref": c.ref, "verb": verb(lang)}
    if not cm.missing:
        return OutgoingMessage(CampaignTexts.group_done(lang, **params))
    head = CampaignTexts.group_reminder if stage == BEFORE else CampaignTexts.group_due
    text = head(lang, count=len(cm.missing), deadline=deadline, **params)
    unbound = [s.name for s in cm.missing if s.id not in accounts]
    if unbound:
        text += "\n" + CampaignTexts.unbound(lang, names="、".join(unbound))
    mentions = tuple(Mention(accounts[s.id], s.name) for s in cm.missing if s.id in accounts)
    return OutgoingMessage(text, mentions=mentions)


def _staff_text(
    c: Instance,
    stage: str,
    missing: list[campaigns.ClassNonResponders],
    progress: campaigns.Progress,
    cids: list[int] | None,
    verb: Text,
    deadline: str,
    lang: str,
) -> str:
    mine = [m for m in missing if cids is None or m.class_id in cids]
    counts = {n.label: n for _, n in progress.classes}
    done = sum(counts[m.code].done for m in mine if m.code in counts)
    of = sum(counts[m.code].of for m in mine if m.code in counts)
    when = CampaignTexts.before_deadline if stage == BEFORE else CampaignTexts.at_deadline
    lines = [
        CampaignTexts.staff_head(
            lang,
            title=c.title,
            ref=c.ref,
            when=when(lang, deadline=deadline),
            done=done,
            of=of,
            verb=verb(lang),
        )
    ]
    for m in mine:
        n = counts.get(m.code)
        if n is None:
            continue
        if not m.missing:
            lines.append(CampaignTexts.staff_class_done(lang, code=m.code, done=n.done, of=n.of))
            continue
        names = CampaignTexts.names(lang, names="、".join(s.name for s in m.missing))
        lines.append(
            CampaignTexts.staff_class(
                lang,
                code=m.code,
                done=n.done,
                of=n.of,
                count=len(m.missing),
                names=names,
                verb=verb(lang),
            )
        )
    return "\n".join(lines)


class _Close:
    """The last delivery of a campaign's deadline: it closes the campaign, and sends nothing."""

    def __init__(self, app: App, c: Instance) -> None:
        self.app = app
        self.c = c

    def __call__(self, _session: Session) -> list[Envelope]:
        def work() -> None:
            with self.app.uow() as session:
                campaigns.close(session, self.c, self.app.clock.now())

        with_retry(work)
        return []


def no_times(config: Config) -> dict[time, Slot]:
    return {}


REMINDERS = Job("campaign_reminders", no_times, plan_reminders, at=reminder_times)


def purge(session: Session, now: datetime) -> int:
    """The campaigns' retention: each kind's responses go its retention days after the deadline."""
    return campaigns.purge(session, now)


def progress_lines(lang: str, c: Instance, progress: campaigns.Progress) -> list[str]:
    """A campaign's progress as staff read it (`进度 N3`, the 12:00 roll-up): the total, then
    each college and each class, a class nobody answered in included."""
    total = progress.total
    lines = [
        CampaignTexts.progress_head(
            lang, title=c.title, ref=c.ref, done=total.done, of=total.of, rate=total.rate
        )
    ]
    several = len(progress.colleges) > 1
    for college in progress.colleges:
        if several:
            lines.append(
                CampaignTexts.progress_college(
                    lang, name=college.label, done=college.done, of=college.of, rate=college.rate
                )
            )
        for name, n in progress.classes:
            if name == college.label:
                lines.append(
                    CampaignTexts.progress_class(
                        lang, code=n.label, done=n.done, of=n.of, rate=n.rate
                    )
                )
    return lines


def rollup_section(
    session: Session,
    lang: str,
    class_ids: Iterable[int] | None,
    now: datetime,
    config: Config,
    kinds: campaigns.Campaigns = campaigns.KINDS,
) -> str:
    """The roll-up hook: the open campaigns (of kinds shown daily) these classes take part
    in, each with its progress in them; empty when there are none."""
    ids = None if class_ids is None else frozenset(class_ids)
    out: list[str] = []
    for c in campaigns.open_campaigns(session, kinds_reg=kinds):
        if not c.kind.numbered or not c.kind.in_daily_rollup:
            continue
        audience = campaigns.audience_classes(session, c.audience)
        if ids is not None and audience is not None and not (audience & ids):
            continue
        key = campaigns.current_key(c, now, config.tz)
        out += progress_lines(lang, c, campaigns.progress(session, c, key, ids))
    return "\n\n" + "\n".join(out) if out else ""


def open_lines(
    session: Session, lang: str, config: Config, kinds: campaigns.Campaigns = campaigns.KINDS
) -> list[tuple[frozenset[int] | None, str]]:
    """The open campaigns a class group may hear of (not private-only ones): the classes
    each asks (None: all), and its line."""
    out: list[tuple[frozenset[int] | None, str]] = []
    for c in campaigns.open_campaigns(session, kinds_reg=kinds):
        if not c.kind.numbered or not c.in_groups or c.audience.private_only:
            continue
        line = CampaignTexts.open_line(
            lang, title=c.title, ref=c.ref, deadline=_when(c.deadline, config)
        )
        out.append((campaigns.audience_classes(session, c.audience), line))
    return out
