"""每日健康打卡: the daily health check-in, and /mine for a student's own record."""

from __future__ import annotations

import re
from datetime import date

from bot.config import times_for
from bot.messages import OutgoingMessage, PersonAddress
from bot.router import ALL_ROLES, STUDENTS, Args, CommandRouter, Context, Feature, normalize
from storage import checkins, identity
from storage.checkins import CheckInInput, format_temp
from storage.errors import BadArguments, OutOfRange, TextTooLong
from storage.models import Role, SchoolClass

router = CommandRouter("checkin")

MAX_NOTE = 200
MAX_CITY = 30
NO_SYMPTOMS = {"无", "没有", "正常", "无症状", "none", "no", "ok"}
_TEMP = re.compile(r"^(\d{1,3})(?:\.(\d{1,2}))?$")
_SYMPTOM_SPLIT = re.compile(r"[,，、/]+")


def parse_temperature(token: str, low: float, high: float) -> int:
    """Tenths of a degree from '36.5', '36.5℃', '36,5' or full-width digits."""
    text = normalize(token).lower().replace(",", ".").replace("。", ".")
    for suffix in ("°c", "°", "c", "度"):
        if text.endswith(suffix):
            text = text[: -len(suffix)].strip()
            break
    m = _TEMP.match(text)
    if m is None:
        # The typed value is not echoed: in a group it would be health data.
        raise BadArguments(
            f"体温看不懂，请写成数字，单位℃（范围 {low}–{high}℃）。",
            f"Cannot read the temperature; write a number in °C (range {low}–{high} °C).",
        )
    value = float(f"{m.group(1)}.{m.group(2) or '0'}")
    if not low <= value <= high:
        raise OutOfRange(what="体温", what_en="Temperature", low=f"{low}℃", high=f"{high}℃")
    return round(value * 10)


def parse_details(args: Args, known: list[str]) -> tuple[tuple[str, ...], str | None, str | None]:
    """Symptoms from the configured list, an optional @city, and the rest as a note."""
    symptoms: list[str] = []
    city: str | None = None
    i = 1
    while i < len(args):
        token = args.tokens[i]
        if token[0] in "@＠" and city is None:
            city = token[1:].strip() or None
            i += 1
            continue
        parts = [p for p in _SYMPTOM_SPLIT.split(normalize(token)) if p]
        if parts and all(p.lower() in NO_SYMPTOMS or p in known for p in parts):
            symptoms.extend(p for p in parts if p in known and p not in symptoms)
            i += 1
            continue
        break
    note = args.rest(i) or None
    if city is not None and len(city) > MAX_CITY:
        raise TextTooLong(what="城市", what_en="City", limit=MAX_CITY)
    if note is not None and len(note) > MAX_NOTE:
        raise TextTooLong(what="备注", what_en="The note", limit=MAX_NOTE)
    return tuple(symptoms), city, note


@router.command(
    "checkin",
    "打卡",
    roles=STUDENTS,
    usage=(
        "打卡 <体温> [症状…] [@城市] [备注]，例：打卡 36.5　或　打卡 37.6 咳嗽 @武汉",
        "/checkin <temperature> [symptoms…] [@city] [note], e.g. /checkin 36.5",
    ),
    help=("今日健康打卡", "today's health check-in"),
    needs_consent=True,
)
def checkin(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    cfg = ctx.config.checkin
    if len(args) == 0:
        raise BadArguments("请写上体温。", "Please give your temperature.")
    temp = parse_temperature(args.tokens[0], cfg.min_temperature, cfg.max_temperature)
    symptoms, city, note = parse_details(args, cfg.symptoms)
    if actor.class_id is None:
        raise BadArguments("花名册里你没有班级，请联系辅导员。", "You have no class on the roster.")

    local = ctx.sent_at.astimezone(ctx.config.tz)
    deadline = times_for(ctx.config.schedule, actor.college).deadline
    assert deadline is not None
    late = local.time() > deadline
    abnormal = temp >= round(cfg.abnormal_temperature * 10) or bool(symptoms)
    stored = checkins.record(
        ctx.session,
        CheckInInput(
            student_id=actor.person_id,
            class_id=actor.class_id,
            day=local.date(),
            temp_tenths=temp,
            symptoms=symptoms,
            city=city,
            note=note,
            abnormal=abnormal,
            late=late,
            submitted_at=ctx.sent_at,
            platform=ctx.message.platform,
        ),
    )

    late_mark = ctx.t("（迟交）", " (late)") if late else ""
    if ctx.message.is_group:
        # Never echo health details in a group: only the class count.
        done, roster = checkins.class_progress(ctx.session, actor.class_id, local.date())
        ctx.reply(
            ctx.t(
                "✓ {name} 已打卡 {done}/{roster}{late}",
                "✓ {name} checked in {done}/{roster}{late}",
                name=actor.name,
                done=done,
                roster=roster,
                late=late_mark,
            )
        )
    else:
        updated = (
            ctx.t("（已更新今天的记录）", " (replaces today's earlier one)")
            if stored.replaced
            else ""
        )
        ctx.reply(
            ctx.t(
                "✓ 已打卡{late}{updated}\n体温 {temp}℃；症状：{symptoms}{city}",
                "✓ Checked in{late}{updated}\nTemperature {temp} °C; symptoms: {symptoms}{city}",
                late=late_mark,
                updated=updated,
                temp=format_temp(temp),
                symptoms="、".join(symptoms) or ctx.t("无", "none"),
                city=f"；城市：{city}" if city else "",
            )
        )
    if abnormal:
        _alert_staff(ctx, actor.class_id, temp, symptoms, city)


def _alert_staff(
    ctx: Context, class_id: int, temp: int, symptoms: tuple[str, ...], city: str | None
) -> None:
    actor = ctx.require_actor()
    staff = identity.staff_for_class(ctx.session, class_id, (Role.COUNSELOR, Role.HEAD_TEACHER))
    cls = ctx.session.get(SchoolClass, class_id)
    text = ctx.t(
        "⚠️ 异常打卡：{name}（{number}，{cls}）体温 {temp}℃，症状：{symptoms}{city}。请及时跟进。",
        "⚠️ Abnormal check-in: {name} ({number}, {cls}) {temp} °C, symptoms: {symptoms}{city}.",
        name=actor.name,
        number=actor.number,
        cls=cls.code if cls else "?",
        temp=format_temp(temp),
        symptoms="、".join(symptoms) or ctx.t("无", "none"),
        city=f"，城市：{city}" if city else "",
    )
    ctx.notify((p.id for p in staff), OutgoingMessage(text))


@router.command(
    "mine",
    "我的",
    roles=ALL_ROLES,
    usage=("我的", "/mine"),
    help=(
        "查看自己的打卡、请假和补助记录（私聊发送）",
        "your own check-in, leave and subsidy records (sent privately)",
    ),
)
def mine(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    lines = [
        ctx.t(
            "{name}（{number}）的记录：",
            "Records of {name} ({number}):",
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
        ctx.reply(ctx.t("已私信发给你。", "Sent to you privately."))
    else:
        ctx.reply(details)


def mine_lines(ctx: Context, person_id: int, today: date) -> list[str]:
    """The check-in section of /mine."""
    rows = checkins.latest(ctx.session, person_id, limit=1)
    if not rows:
        return [ctx.t("打卡：还没有记录。", "Check-in: none yet.")]
    c = rows[0]
    when = c.submitted_at.astimezone(ctx.config.tz).strftime("%m-%d %H:%M")
    status = (
        ctx.t("今天已打卡", "checked in today")
        if c.day == today
        else ctx.t("今天未打卡", "not yet today")
    )
    return [
        ctx.t(
            "打卡：{status}；最近一次 {when}，体温 {temp}℃，症状：{symptoms}{late}",
            "Check-in: {status}; last {when}, {temp} °C, symptoms: {symptoms}{late}",
            status=status,
            when=when,
            temp=format_temp(c.temp_tenths),
            symptoms=c.symptoms or ctx.t("无", "none"),
            late=ctx.t("（迟交）", " (late)") if c.late else "",
        )
    ]


FEATURE = Feature(router, mine=mine_lines)
