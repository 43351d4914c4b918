"""云考勤: monitors post who missed or was late to an online class; the weekly summary."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.dates import format_day, parse_day, week_start
from bot.messages import OutgoingMessage, PersonAddress
from bot.router import DEMO_CLASS, STAFF, Args, CommandRouter, Context, Feature, normalize
from bot.texts import Catalogue, PerLanguage, Text
from storage import attendance, identity
from storage.attendance import Posted, Student, WeekSummary
from storage.errors import BadArguments, NotFound, TextTooLong
from storage.identity import Actor
from storage.models import Role, SchoolClass

router = CommandRouter("attendance")


class AttendanceTexts(Catalogue):
    name_the_class = Text(
        "私聊提交请写上班级，例：考勤 {class_code} 高等数学 缺勤 2020003",
        "In private chat name the class, e.g. /attendance {class_code} Maths absent 2020003",
    )
    not_yet = Text(
        "{day} 还没到，不能提前登记考勤。",
        "{day} has not come yet; attendance is recorded after the class.",
    )
    roster_roster_present_present = Text(
        "应到 {roster}：出勤 {present}，缺勤 {absent}，迟到 {late}，请假 {leave}",
        "Roster {roster}: present {present}, absent {absent}, late {late}, on leave {leave}",
    )
    attendance_start_end = Text("📋 考勤周报 {start}–{end}", "📋 Attendance, {start} – {end}")
    attendance_this_week_absent = Text(
        "考勤（本周）：缺勤 {absent}，迟到 {late}，请假 {leave}",
        "Attendance this week: absent {absent}, late {late}, on leave {leave}",
    )
    absent_names = Text("缺勤：{names}", "Absent: {names}")
    late_names = Text("迟到：{names}", "Late: {names}")
    on_leave_names_approved = Text(
        "请假：{names}（当天有已批准的请假）", "On leave: {names} (approved leave that day)"
    )
    names_on_approved_leave = Text(
        "{names} 当天已请假，按请假记录，不算缺勤。",
        "{names}: on approved leave that day, so recorded as on leave, not absent.",
    )
    sent_summary_to_you = Text("考勤周报已私信发给你。", "Sent the summary to you privately.")
    no_classes = Text("没有班级。", "No classes.")
    code_n_sessions_recorded = Text("【{code}】已登记 {n} 节课", "[{code}] {n} sessions recorded")
    id_name_absent_late = Text("学号 姓名：缺勤 / 迟到 / 请假", "id name: absent / late / on leave")
    absent_n_or_more = Text(
        "⚠️ 本周缺勤 {n} 次及以上，请跟进：{names}",
        "⚠️ Absent {n} or more times this week, please follow up: {names}",
    )
    teaching_days_with_no = Text(
        "未登记考勤的教学日：{days}", "Teaching days with no attendance posted: {days}"
    )
    replaces_earlier_posting_version = Text(
        "（已更新，第 {n} 版）", " (replaces the earlier posting, version {n})"
    )
    you_have_no_classes = Text("你还没有负责的班级。", "You have no classes assigned.")
    nobody_absent_or_late = Text("  本周没有缺勤和迟到。", "  Nobody absent or late.")
    attendance_usage = Text(
        "考勤 [班级] [日期] <课程> [节次] 缺勤 <学号…> 迟到 <学号…>，例：考勤 高等数学 第2节 缺勤 2020003 017 迟到 2020021（学号可写末几位或姓名；私聊时班长默认本班，老师写班级：考勤 {class_code} 高等数学 …；无人缺勤写「全勤」）；周报：考勤 本周 / 考勤 上周",
        "/attendance [class] [date] <course> [session] absent <ids…> late <ids…>, e.g. /attendance Maths 2 absent 2020003 017 late 2020021 (ids may be the last digits or a name; staff in private chat name the class first: /attendance {class_code} Maths …; nobody missing: all-present); summary: /attendance week | last-week",
    )
    attendance_help = Text(
        "班长登记网课考勤（缺勤、迟到），或查看考勤周报",
        "record an online-class session's absences and lates, or see the weekly summary",
    )
    attendance_recorded_cls_course = Text(
        "✓ 已登记考勤：{cls} {course}{session} {day}{updated}",
        "✓ Attendance recorded: {cls} {course}{session} {day}{updated}",
    )
    attendance_of_code = Text("{code} 的考勤", "The attendance of {code}")
    please_name_course = Text("请写上课程名。", "Please name the course.")
    cannot_read_extra_ids = Text(
        "看不懂「{extra}」：学号或姓名要写在「缺勤」或「迟到」后面。",
        "Cannot read “{extra}”: ids go after 'absent' or 'late'.",
    )
    cannot_read_value_write = Text(
        "看不懂「{value}」：节次请写成「第2节」，学号或姓名要写在「缺勤」或「迟到」后面。",
        "Cannot read “{value}”: write the session as a number (2 or 1-2); ids go after 'absent' or 'late'.",
    )
    course_name = Text("课程名", "The course name")
    session = Text("节次", "The session")
    class_code = Text("班级 {code}", "Class {code}")
    give_at_most_one = Text("周报最多写一个班级。", "Give at most one class for the summary.")
    this_is_group_of = Text(
        "本群是 {code} 的群；其他班级的考勤请私聊我办理。",
        "This is the group of {code}; for another class, message me privately.",
    )
    all_present_takes_no = Text(
        "写了「全勤」就不用再写学号；有缺勤或迟到请写在「缺勤」「迟到」后面。",
        "'all-present' takes no ids; list absences after 'absent' and lates after 'late'.",
    )


POSTERS = STAFF | {Role.MONITOR}
MAX_COURSE = 40
MAX_SESSION = 20

ABSENT_WORDS = ("缺勤", "缺课", "旷课", "absent")
LATE_WORDS = ("迟到", "late")
ALL_PRESENT_WORDS = ("全勤", "全到", "all-present")
THIS_WEEK_WORDS = ("本周", "周报", "week", "this-week")
LAST_WEEK_WORDS = ("上周", "last-week", "lastweek")
CLASS_PREFIXES = ("班级=", "班级:", "class=", "class:")

_PIECES = re.compile(r"[,，、;；]+")
# How a numbered session is stored (data, matched and shown as typed in Chinese): 第2节.
SESSION_LABEL = ("第", "节")
_SESSION_NUMBER = re.compile(r"^第?(\d{1,2}(?:[-~～至到]\d{1,2})?)节?$")
# Other ways to name a session: 第三节, 上午, 晚自习; anything else is likely a forgotten 缺勤.
_SESSION_WORDS = re.compile(
    r"^第?[一二三四五六七八九十\d]{1,3}(?:[-~～至到][一二三四五六七八九十\d]{1,3})?节$"
)
SESSION_TIMES = (
    "上午",
    "下午",
    "晚上",
    "晚自习",
    "早读",
    "am",
    "pm",
    "morning",
    "afternoon",
    "evening",
)


@dataclass
class ParsedPosting:
    class_code: str | None
    day: date | None
    course: str
    session: str
    absent: list[str]
    late: list[str]


def _keyword(piece: str) -> tuple[str | None, str]:
    """(section, the rest glued to the keyword) when a piece starts a section."""
    low = normalize(piece).lower()
    for section, words in (
        ("absent", ABSENT_WORDS),
        ("late", LATE_WORDS),
        ("all", ALL_PRESENT_WORDS),
    ):
        for word in words:
            if low == word:
                return section, ""
            # Chinese keywords are often glued to the first id: 缺勤2020003, 迟到：03.
            if (not word.isascii() or low.startswith(word + ":")) and low.startswith(word):
                return section, piece[len(word) :].lstrip(":：")
    return None, piece


def _is_session(label: str) -> bool:
    return bool(_SESSION_WORDS.match(label)) or label.lower() in SESSION_TIMES


def _class_token(token: str) -> str:
    """A class code as typed, with or without `班级=`."""
    text = normalize(token)
    for prefix in CLASS_PREFIXES:
        if text.lower().startswith(prefix):
            return text[len(prefix) :].strip()
    return text


def _session_label(token: str) -> str:
    text = normalize(token)
    m = _SESSION_NUMBER.match(text)
    return m.group(1).join(SESSION_LABEL) if m else text


def parse_posting(ctx: Context, args: Args, today: date) -> ParsedPosting:
    header: list[str] = []
    lists: dict[str, list[str]] = {"absent": [], "late": []}
    section: str | None = None
    for token in args.tokens:
        for raw in _PIECES.split(token):
            word, piece = _keyword(raw) if raw else (None, raw)
            if word is not None:
                section = word
            if not piece:
                continue
            if section is None:
                header.append(piece)
            elif section == "all":
                raise BadArguments(
                    AttendanceTexts.all_present_takes_no,
                )
            else:
                lists[section].append(piece)

    class_code: str | None = None
    day: date | None = None
    rest: list[str] = []
    for token in header:
        text = normalize(token)
        if class_code is None and text.lower().startswith(CLASS_PREFIXES):
            class_code = _class_token(text)
        elif class_code is None and not rest and identity.class_by_code(ctx.session, text):
            class_code = text
        elif (
            day is None
            # After the course, `1-2` is a session range, not 2 January.
            and not (rest and _SESSION_NUMBER.match(text))
            and (parsed := parse_day(token, today)) is not None
        ):
            day = parsed
        else:
            rest.append(token)
    if not rest:
        raise BadArguments(AttendanceTexts.please_name_course)
    if len(rest) > 2:
        extra = " ".join(rest[2:])
        raise BadArguments(
            AttendanceTexts.cannot_read_extra_ids,
            extra=extra,
        )
    course = rest[0]
    session = _session_label(rest[1]) if len(rest) > 1 else ""
    if session and not _is_session(session):
        raise BadArguments(
            AttendanceTexts.cannot_read_value_write,
            value=rest[1],
        )
    if len(course) > MAX_COURSE:
        raise TextTooLong(what=AttendanceTexts.course_name.bind(), limit=MAX_COURSE)
    if len(session) > MAX_SESSION:
        raise TextTooLong(what=AttendanceTexts.session.bind(), limit=MAX_SESSION)
    return ParsedPosting(class_code, day, course, session, lists["absent"], lists["late"])


def _class_named(ctx: Context, code: str) -> SchoolClass:
    cls = identity.class_by_code(ctx.session, code)
    if cls is None:
        raise NotFound(what=AttendanceTexts.class_code.bind(code=code))
    return cls


def _target_class(ctx: Context, actor: Actor, named: str | None) -> SchoolClass:
    """The class a command is about: the group's, the one named, or the asker's own."""
    if ctx.message.is_group:
        group = identity.require_group(ctx.group)
        cls = ctx.session.get(SchoolClass, group.class_id)
        assert cls is not None
        if named is not None and named != cls.code:
            raise BadArguments(
                AttendanceTexts.this_is_group_of,
                code=cls.code,
            )
    elif named is not None:
        cls = _class_named(ctx, named)
    else:
        own = actor.class_id if not actor.is_staff else None
        if own is None and not actor.all_classes and len(actor.class_ids) == 1:
            [own] = actor.class_ids
        if own is None:
            raise BadArguments(AttendanceTexts.name_the_class, class_code=DEMO_CLASS)
        cls = ctx.session.get(SchoolClass, own)
        assert cls is not None
    actor.require_class(cls.id, what=AttendanceTexts.attendance_of_code.bind(code=cls.code))
    return cls


@router.command(
    "attendance",
    "考勤",
    roles=POSTERS,
    usage=AttendanceTexts.attendance_usage.pair,
    help=AttendanceTexts.attendance_help.pair,
)
def attendance_command(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    today = ctx.sent_at.astimezone(ctx.config.tz).date()
    if len(args) == 0:
        raise BadArguments(AttendanceTexts.please_name_course)
    first = normalize(args.tokens[0]).lower()
    if first in THIS_WEEK_WORDS or first in LAST_WEEK_WORDS:
        _week(ctx, actor, args, today, last=first in LAST_WEEK_WORDS)
        return

    parsed = parse_posting(ctx, args, today)
    day = parsed.day or today
    if day > today:
        raise BadArguments(
            AttendanceTexts.not_yet, day=PerLanguage(lambda lang: format_day(day, lang))
        )
    cls = _target_class(ctx, actor, parsed.class_code)
    posted = attendance.post(
        ctx.session,
        attendance.Posting(
            class_id=cls.id,
            class_code=cls.code,
            course=parsed.course,
            day=day,
            session=parsed.session,
            absent=tuple(parsed.absent),
            late=tuple(parsed.late),
            posted_at=ctx.sent_at,
        ),
        actor,
        ctx.config.tz,
    )
    ctx.reply(_posted_text(ctx, cls.code, parsed, day, posted))


def _names(ctx: Context, students: list[Student]) -> str:
    # In a group only names are shown; in private chat the 学号 too, for checking.
    if ctx.lang == "en":
        if ctx.message.is_group:
            return ", ".join(s.name for s in students)
        return ", ".join(f"{s.name} ({s.number})" for s in students)
    if ctx.message.is_group:
        return "、".join(s.name for s in students)
    return "、".join(f"{s.name}（{s.number}）" for s in students)


def _posted_text(
    ctx: Context, class_code: str, parsed: ParsedPosting, day: date, posted: Posted
) -> str:
    session = f" {parsed.session}" if parsed.session else ""
    lines = [
        ctx.render(
            AttendanceTexts.attendance_recorded_cls_course,
            cls=class_code,
            course=parsed.course,
            session=session,
            day=format_day(day, ctx.lang),
            updated=ctx.render(AttendanceTexts.replaces_earlier_posting_version, n=posted.revision)
            if posted.replaced
            else "",
        ),
        ctx.render(
            AttendanceTexts.roster_roster_present_present,
            roster=posted.roster_size,
            present=posted.present,
            absent=len(posted.absent),
            late=len(posted.late),
            leave=len(posted.leave),
        ),
    ]
    if posted.absent:
        lines.append(ctx.render(AttendanceTexts.absent_names, names=_names(ctx, posted.absent)))
    if posted.late:
        lines.append(ctx.render(AttendanceTexts.late_names, names=_names(ctx, posted.late)))
    if posted.leave:
        lines.append(
            ctx.render(AttendanceTexts.on_leave_names_approved, names=_names(ctx, posted.leave))
        )
    if posted.excused:
        lines.append(
            ctx.render(AttendanceTexts.names_on_approved_leave, names=_names(ctx, posted.excused))
        )
    return "\n".join(lines)


# -- weekly summary --------------------------------------------------------------------------


def _week(ctx: Context, actor: Actor, args: Args, today: date, *, last: bool) -> None:
    if len(args) > 2:
        raise BadArguments(AttendanceTexts.give_at_most_one)
    named = _class_token(args.tokens[1]) if len(args) == 2 else None
    class_ids: list[int] | None
    if named is not None or ctx.message.is_group or not actor.is_staff:
        class_ids = [_target_class(ctx, actor, named).id]
    elif actor.all_classes:
        class_ids = None
    else:
        class_ids = sorted(actor.class_ids)
        if not class_ids:
            ctx.reply(ctx.render(AttendanceTexts.you_have_no_classes))
            return
    start = week_start(today) - timedelta(days=7 if last else 0)
    summary = attendance.weekly_summary(
        ctx.session,
        class_ids,
        start,
        ctx.config.schedule.skip_dates,
        alert_absences=ctx.config.attendance.alert_absences,
        # Days still to come (and today, whose classes may not be over) are not "missing".
        through=None if last else today - timedelta(days=1),
    )
    text = OutgoingMessage(format_week(summary, ctx.lang))
    if ctx.message.is_group:
        # Who is being flagged for absences is for the asker, not the whole group.
        ctx.send(PersonAddress(actor.person_id), text)
        ctx.reply(ctx.render(AttendanceTexts.sent_summary_to_you))
    else:
        ctx.reply(text)


def format_week(summary: WeekSummary, lang: str) -> str:
    """The weekly summary as one message: a block per class (also used by the weekly job)."""

    lines = [
        AttendanceTexts.attendance_start_end(
            lang, start=format_day(summary.week_start, lang), end=format_day(summary.week_end, lang)
        )
    ]
    if not summary.classes:
        lines.append(AttendanceTexts.no_classes(lang))
    for cls in summary.classes:
        lines.append("")
        lines.append(
            AttendanceTexts.code_n_sessions_recorded(lang, code=cls.class_code, n=cls.sessions)
        )
        if cls.students:
            lines.append(AttendanceTexts.id_name_absent_late(lang))
            for s in cls.students:
                flag = " ⚠️" if s in cls.flagged else ""
                lines.append(f"  {s.number} {s.name}：{s.absent} / {s.late} / {s.leave}{flag}")
        elif cls.sessions:
            lines.append(AttendanceTexts.nobody_absent_or_late(lang))
        if cls.flagged:
            lines.append(
                AttendanceTexts.absent_n_or_more(
                    lang,
                    n=summary.alert_absences,
                    names="、".join(f"{s.name}（{s.number}）" for s in cls.flagged),
                )
            )
        if cls.missing_days:
            lines.append(
                AttendanceTexts.teaching_days_with_no(
                    lang, days="、".join(format_day(d, lang) for d in cls.missing_days)
                )
            )
    return "\n".join(lines)


def mine_lines(ctx: Context, person_id: int, today: date) -> list[str]:
    """The attendance section of /mine: this week's absences, lates and leaves."""
    counts = attendance.student_week(ctx.session, person_id, week_start(today), today)
    return [
        ctx.render(
            AttendanceTexts.attendance_this_week_absent,
            absent=counts.get(attendance.ABSENT, 0),
            late=counts.get(attendance.LATE, 0),
            leave=counts.get(attendance.LEAVE, 0),
        )
    ]


FEATURE = Feature(router, mine=mine_lines)
