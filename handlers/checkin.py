"""每日健康打卡: the daily health check-in, and /mine for a student's own record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bot.config import Config, times_for
from bot.messages import OutgoingMessage, PersonAddress
from bot.router import ALL_ROLES, STUDENTS, Args, BatchForm, CommandRouter, Context, Feature
from bot.texts import Catalogue, Text
from handlers import keystudents
from handlers.symptoms import Reading, lexicon_for, read_checkin
from storage import checkins, identity
from storage.checkins import CheckInInput, format_temp
from storage.errors import BadArguments, CheckinOff
from storage.models import Role, SchoolClass

router = CommandRouter("checkin")


class CheckinTexts(Catalogue):
    """每日健康打卡 and /mine: the replies, the staff alerts and the usage lines."""

    checkin_usage = Text(
        "打卡 <体温> [症状…] [@城市] [备注]，例：打卡 36.5　或　打卡 37.6 咳嗽 嗓子疼 @武汉",
        "/checkin <temperature> [symptoms…] [@city] [note], e.g. /checkin 37.6 cough @Wuhan",
    )
    checkin_help = Text("今日健康打卡", "today's health check-in")
    no_class = Text("花名册里你没有班级，请联系辅导员。", "You have no class on the roster.")
    late = Text("（迟交）", " (late)")
    counted = Text(
        "✓ {name} 已打卡 {done}/{roster}{late}", "✓ {name} checked in {done}/{roster}{late}"
    )
    verb = Text("已打卡", "checked in")
    received_privately = Text("✓ 已收到，详情见私聊", "✓ Received; details in private chat")
    updated = Text("（已更新今天的记录）", " (replaces today's earlier one)")
    none = Text("无", "none")
    understood = Text(
        "✓ 已打卡{late}{updated}\n体温 {temp}℃；症状：{symptoms}；城市：{city}；备注：{note}\n"
        "如有不对，重新发送打卡即可更正，以最后一次为准。",
        "✓ Checked in{late}{updated}\nTemperature {temp} °C; symptoms: {symptoms}; "
        "city: {city}; note: {note}\nIf anything is wrong, check in again: the last one "
        "counts.",
    )
    alert = Text(
        "⚠️ {again}异常打卡：{name}（{number}，{cls}）体温 {temp}℃，症状：{symptoms}{city}。请及时跟进。",
        "⚠️ Abnormal check-in{again}: {name} ({number}, {cls}) {temp} °C, symptoms: "
        "{symptoms}{city}. Please follow up.",
    )
    worse = Text("加重：", " (worse than earlier today)")
    city = Text("，城市：{city}", ", city: {city}")
    correction = Text(
        "ℹ️ 更正：{name}（{number}，{cls}）{when} 重新打卡，体温 {temp}℃，无症状。"
        "今天的异常记录仍保留在台账「异常」表中，标为已更正。",
        "ℹ️ Correction: {name} ({number}, {cls}) checked in again at {when}: {temp} °C, "
        "no symptoms. Today's abnormal reading stays in the ledger, marked corrected.",
    )
    health_signal = Text(
        "身体不舒服的话，请按这个格式打卡，辅导员会及时看到：\n"
        "打卡 <体温> [症状…] [@城市] [备注]，例：打卡 37.6 发烧 咳嗽",
        "If you are unwell, please check in so your counselor sees it: "
        "/checkin <temperature> [symptoms…] [@city] [note], e.g. /checkin 37.6 fever cough",
    )
    mine_usage = Text("我的", "/mine")
    mine_help = Text(
        "查看自己的打卡、请假和补助记录（私聊发送）",
        "your own check-in, leave and subsidy records (sent privately)",
    )
    records_of = Text("{name}（{number}）的记录：", "Records of {name} ({number}):")
    sent_privately = Text("已私信发给你。", "Sent to you privately.")
    mine_none = Text("打卡：还没有记录。", "Check-in: none yet.")
    today_done = Text("今天已打卡", "checked in today")
    today_missing = Text("今天未打卡", "not yet today")
    mine_line = Text(
        "打卡：{status}；最近一次 {when}，体温 {temp}℃，症状：{symptoms}{late}",
        "Check-in: {status}; last {when}, {temp} °C, symptoms: {symptoms}{late}",
    )


T = CheckinTexts


@dataclass(frozen=True)
class _CheckIn:
    """One check-in message as read, before it is stored."""

    reading: Reading
    data: CheckInInput


def _read(ctx: Context, args: Args) -> _CheckIn:
    """Check and read one check-in; stores nothing (a malformed one is refused alone)."""
    actor = ctx.require_actor()
    if not ctx.config.checkin.enabled:
        raise CheckinOff()
    cfg = ctx.config.checkin
    reading = read_checkin(args.text, cfg)
    if actor.class_id is None:
        raise BadArguments(T.no_class)
    local = ctx.sent_at.astimezone(ctx.config.tz)
    deadline = times_for(ctx.config.schedule, actor.college).deadline
    assert deadline is not None
    abnormal = reading.temp_tenths >= round(cfg.abnormal_temperature * 10) or bool(reading.symptoms)
    data = CheckInInput(
        student_id=actor.person_id,
        class_id=actor.class_id,
        day=local.date(),
        temp_tenths=reading.temp_tenths,
        symptoms=reading.symptoms,
        city=reading.city,
        note=reading.note,
        abnormal=abnormal,
        late=local.time() > deadline,
        submitted_at=ctx.sent_at,
        platform=ctx.message.platform,
    )
    return _CheckIn(reading, data)


def _store(items: Sequence[tuple[Context, _CheckIn]]) -> None:
    """Store the check-ins of a batch (one student each) in order, and answer each."""
    entries = [
        # The group's class comes back with the check-in, in the same round trip.
        (c.data, (ctx.message.platform, ctx.message.chat_id) if ctx.message.is_group else None)
        for ctx, c in items
    ]
    for (ctx, c), stored in zip(
        items, checkins.record_many(items[0][0].session, entries), strict=True
    ):
        _answer(ctx, c, stored)


CHECKIN = BatchForm(_read, _store)
router.command(
    "checkin",
    "打卡",
    roles=STUDENTS,
    usage=T.checkin_usage.pair,
    help=T.checkin_help.pair,
    needs_consent=True,
    batch=CHECKIN,
)(CHECKIN.one)


def _answer(ctx: Context, c: _CheckIn, stored: checkins.Stored) -> None:
    actor = ctx.require_actor()
    assert actor.class_id is not None
    day = c.data.day
    late_mark = ctx.render(T.late) if c.data.late else ""
    if ctx.message.is_group and stored.group_class_id == actor.class_id:
        # Never echo health details in a group: only the class count.
        done, roster = stored.done, stored.roster
        ctx.acknowledge(
            ctx.render(
                T.counted,
                name=actor.name,
                done=done,
                roster=roster,
                late=late_mark,
            ),
            key=f"checkin:{day}",
            verb=ctx.render(T.verb),
            name=actor.name,
            done=done,
            of=roster,
            mark=late_mark,
        )
    else:
        details = _understood(ctx, c.reading, late_mark, stored.replaced)
        if ctx.message.is_group:
            # Another class's group (or one bound to no class): nothing of this student's
            # class there, not even a name or a count.
            ctx.send(PersonAddress(actor.person_id), details)
            ctx.reply(ctx.render(T.received_privately))
        else:
            ctx.reply(details)
    if stored.abnormal_today:
        _alert_or_correct(ctx, actor.class_id, day, stored.revision)
    if c.data.abnormal:
        keystudents.track_abnormal_checkin(ctx, actor, c.reading)


def _understood(ctx: Context, r: Reading, late_mark: str, replaced: bool) -> OutgoingMessage:
    """The private reply: how the check-in was read, so the student can correct it."""
    updated = ctx.render(T.updated) if replaced else ""
    none = ctx.render(T.none)
    return OutgoingMessage(
        ctx.render(
            T.understood,
            late=late_mark,
            updated=updated,
            temp=format_temp(r.temp_tenths),
            symptoms="、".join(r.symptoms) or none,
            city=r.city or none,
            note=r.note or none,
        )
    )


def _alert_or_correct(ctx: Context, class_id: int, day: date, revision: int) -> None:
    """On a day with an abnormal reading: alert on the first one and on a worse one (higher
    temperature or a new symptom); tell the same staff when a normal reading follows."""
    readings = checkins.readings(ctx.session, ctx.require_actor().person_id, day)
    now = next((r for r in readings if r.revision == revision), None)
    if now is None:
        return
    earlier = [r for r in readings if r.revision < revision]
    seen = [r for r in earlier if r.abnormal]
    if now.abnormal:
        if not seen:
            _alert_staff(ctx, class_id, now, again=False)
        elif now.temp_tenths > max(r.temp_tenths for r in seen) or set(now.symptoms) - {
            s for r in seen for s in r.symptoms
        }:
            _alert_staff(ctx, class_id, now, again=True)
    elif earlier and earlier[-1].abnormal:
        _correction_notice(ctx, class_id, now)


def _class_staff(ctx: Context, class_id: int) -> tuple[list[int], str]:
    staff = identity.staff_for_class(ctx.session, class_id, (Role.COUNSELOR, Role.HEAD_TEACHER))
    cls = ctx.session.get(SchoolClass, class_id)
    return [p.id for p in staff], cls.code if cls else "?"


def _alert_staff(ctx: Context, class_id: int, r: checkins.Reading, *, again: bool) -> None:
    actor = ctx.require_actor()
    staff, code = _class_staff(ctx, class_id)
    city = checkins.for_day(
        ctx.session, actor.person_id, r.submitted_at.astimezone(ctx.config.tz).date()
    )
    text = ctx.render(
        T.alert,
        again=ctx.render(T.worse) if again else "",
        name=actor.name,
        number=actor.number,
        cls=code,
        temp=format_temp(r.temp_tenths),
        symptoms="、".join(r.symptoms) or ctx.render(T.none),
        city=ctx.render(T.city, city=city.city) if city is not None and city.city else "",
    )
    ctx.notify(staff, OutgoingMessage(text), tags=("health",))


def _correction_notice(ctx: Context, class_id: int, r: checkins.Reading) -> None:
    actor = ctx.require_actor()
    staff, code = _class_staff(ctx, class_id)
    ctx.notify(
        staff,
        ctx.render(
            T.correction,
            name=actor.name,
            number=actor.number,
            cls=code,
            when=r.submitted_at.astimezone(ctx.config.tz).strftime("%H:%M"),
            temp=format_temp(r.temp_tenths),
        ),
    )


@router.fallback
def health_signal(config: Config, text: str) -> str | None:
    """A private message that reads as a health signal (老师我今天发烧了) gets the check-in
    form and nothing else: nobody is alerted until a check-in is made."""
    if not lexicon_for(config.checkin).find(text):
        return None
    return T.health_signal(config.bot.language)


@router.command(
    "mine",
    "我的",
    roles=ALL_ROLES,
    usage=T.mine_usage.pair,
    help=T.mine_help.pair,
)
def mine(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    lines = [
        ctx.render(
            T.records_of,
            name=actor.name,
            number=actor.number,
        )
    ]
    today = ctx.now.astimezone(ctx.config.tz).date()
    if actor.role.is_student:
        # Each feature's section, in the order bot/app.py wires the features.
        for lines_of in ctx.dispatcher.mine_sections:
            lines.extend(lines_of(ctx, actor.person_id, today))
    details = OutgoingMessage("\n".join(lines))
    if ctx.message.is_group:
        ctx.send(PersonAddress(actor.person_id), details)
        ctx.reply(ctx.render(T.sent_privately))
    else:
        ctx.reply(details)


def mine_lines(ctx: Context, person_id: int, today: date) -> list[str]:
    """The check-in section of /mine."""
    rows = checkins.latest(ctx.session, person_id, limit=1)
    if not rows:
        return [ctx.render(T.mine_none)]
    c = rows[0]
    when = c.submitted_at.astimezone(ctx.config.tz).strftime("%m-%d %H:%M")
    status = ctx.render(T.today_done if c.day == today else T.today_missing)
    return [
        ctx.render(
            T.mine_line,
            status=status,
            when=when,
            temp=format_temp(c.temp_tenths),
            symptoms=c.symptoms or ctx.render(T.none),
            late=ctx.render(T.late) if c.late else "",
        )
    ]


FEATURE = Feature(router, mine=mine_lines)
