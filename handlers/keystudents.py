"""重点学生 files: tags (建档立卡), 云家访 / 谈心谈话 logs and their follow-ups, 云跟踪 of an
unwell student, a student's 档案 and the 帮扶台账.

Everything here is private: a tag, a contact, a follow-up or a 云跟踪 answer never reaches a
group, and the student sees only their own daily 云跟踪 prompts. Reading a file or exporting
the ledger is allowed by storage.care_access and audited.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import date, timedelta
from typing import Any

from bot.config import Config, care_times
from bot.dates import bad_date, short_day, try_parse_date
from bot.messages import Attachment, OutgoingMessage
from bot.router import (
    DECIDERS,
    STAFF,
    STUDENTS,
    Args,
    CommandRouter,
    Context,
    Feature,
    Where,
    normalize,
)
from bot.texts import Catalogue, Text
from handlers.symptoms import Reading, read_checkin
from schedules.keystudents import KEYSTUDENT_JOBS
from storage import audit, identity, reports, requests
from storage import keystudents as files
from storage import leave as leaves
from storage.care_access import audit_read, care_readers, may_read_care
from storage.checkins import format_temp
from storage.errors import BadArguments, OutOfScope
from storage.identity import Actor
from storage.keystudents import ContactInput
from storage.leave import LEAVE
from storage.models import HealthTrack, Person, Role, SchoolClass
from storage.subsidy import SUBSIDY

router = CommandRouter("keystudents")


class KeyStudentCommandTexts(Catalogue):
    """The 重点学生 commands' usage, help and examples."""

    tag_usage = Text(
        "标记 <学号> <类别>，例：标记 2020001 家庭经济困难", "/tag <student id> <category>"
    )
    tag_help = Text("把学生列为重点学生（建档立卡）", "tag a key student with a care category")
    tag_example = Text("标记 2020001 家庭经济困难", "/tag 2020001 <category>")
    untag_usage = Text(
        "取消标记 <学号> <类别>，例：取消标记 2020001 未就业", "/untag <student id> <category>"
    )
    untag_help = Text("取消重点学生标记", "remove a care tag")
    untag_example = Text("取消标记 2020001 未就业", "/untag 2020001 <category>")
    visit_example = Text("家访 2020001 视频 情况:…", "/visit 2020001 video found: …")
    talk_example = Text("谈话 2020001 面谈 情况:…", "/talk 2020001 in-person found: …")
    answer = Text("回答", "The answer")
    contact_usage = Text(
        "{word} <学号> <视频|电话|微信|面谈> [日期:…] [参与:…] 情况:… [帮扶:…] [跟进:<日期> <事项>]，"
        "例：{word} 2020001 视频 参与:王老师,家长 情况:家中一切正常，缺口罩 帮扶:联系社区 跟进:{{tomorrow}} 寄口罩"
        "　或只发 {word} 2020001，逐项回答",
        "/{word} <student id> <video|phone|wechat|in-person> [date: …] [with: …] found: … [help: …] "
        "[follow: <date> <what>], or just /{word} <student id> to be asked step by step",
    )
    visit_help = Text("记录一次云家访", "log a (remote) home visit")
    talk_help = Text("记录一次谈心谈话", "log a talk with a student")
    done_usage = Text("完成 <跟进编号>，例：完成 3", "/done <follow-up number>, e.g. /done 3")
    done_help = Text("把家访或谈话的跟进事项标为已完成", "mark a contact's follow-up done")
    track_usage = Text(
        "跟踪 <学号|病假编号>，例：跟踪 2020001　或　跟踪 L3",
        "/track <student id|sick leave id>, e.g. /track 2020001 or /track L3",
    )
    track_help = Text("开始每日云跟踪一名身体不适的学生", "follow an unwell student daily")
    track_example = Text("跟踪 2020001", "/track 2020001")
    a_leave = Text("请假 {ref}", "Leave {ref}")
    recovered_usage = Text("康复 <学号>，例：康复 2020001", "/recovered <student id>")
    recovered_help = Text(
        "学生已恢复，结束每日云跟踪", "the student is well: end the daily follow-up"
    )
    recovered_example = Text("康复 2020001", "/recovered 2020001")
    feel_usage = Text(
        "身体 <体温> [症状…]，例：身体 36.8　或　身体 37.4 咳嗽",
        "/feel <temperature> [symptoms…]",
    )
    feel_help = Text(
        "回复每日云跟踪：今天的体温和身体情况", "answer the daily follow-up: how you feel today"
    )
    file_usage = Text("档案 <学号>，例：档案 2020001", "/file <student id>")
    file_help = Text(
        "查看重点学生档案：标记、家访谈话、跟进、请假、异常打卡、补助",
        "a key student's file: tags, contacts, follow-ups, leave, abnormal check-ins, subsidies",
    )
    file_example = Text("档案 2020001", "/file 2020001")
    careledger_usage = Text(
        "帮扶台账 [班级|学院]，例：帮扶台账 {class_code}",
        "/careledger [class|college], e.g. /careledger {class_code}",
    )
    careledger_help = Text(
        "重点学生帮扶台账 .xlsx（私聊发送）", "the key students' care ledger .xlsx (private)"
    )


C = KeyStudentCommandTexts


class KeyStudentTexts(Catalogue):
    tagged = Text(
        "✓ 已将 {name}（{number}，{cls}）标记为「{category}」，每 {days} 天需联系一次。",
        "✓ {name} ({number}, {cls}) tagged “{category}”: a contact is due every {days} days.",
    )
    untagged = Text(
        "✓ 已取消 {name}（{number}）的「{category}」标记。",
        "✓ Tag “{category}” removed from {name} ({number}).",
    )
    need_student = Text("请写上学号，例：{example}", "Give the student id, e.g. {example}")
    need_category = Text(
        "请写上类别。可用的类别：{categories}", "Give a category. The categories: {categories}"
    )
    need_mode = Text(
        "请写上联系方式：视频、电话、微信或面谈。",
        "Give the mode: video, phone, wechat or in-person.",
    )
    need_situation = Text("请写上了解到的情况（情况:…）。", "Say what was learned (found: …).")
    bad_followup = Text(
        "跟进事项要写成「跟进:日期 事项」，例：跟进:{example} 寄口罩",
        "Write a follow-up as “follow: date what”, e.g. follow: {example} send masks",
    )
    unknown_part = Text(
        "看不懂「{part}」。各项请写成 参与:… 情况:… 帮扶:… 跟进:日期 事项",
        "Cannot read “{part}”. Write the parts as with: … found: … help: … follow: date what",
    )
    contact_logged = Text(
        "✓ 已记录 {name}（{number}）的{kind}（{day}，{mode}）。{followups}",
        "✓ {kind} with {name} ({number}) logged ({day}, {mode}). {followups}",
    )
    ask_mode = Text(
        "记录 {name}（{number}）的{kind}。联系方式？回复：视频、电话、微信或面谈（发送「取消」放弃）",
        "{kind} with {name} ({number}). The mode? Answer video, phone, wechat or in-person "
        "(/cancel to stop)",
    )
    ask_participants = Text(
        "谁参与了？（例：王老师,家长；没有请回复「无」）",
        "Who took part? (e.g. Ms Wang, parents; or “none”)",
    )
    ask_situation = Text("了解到的情况？", "What was learned?")
    ask_help = Text("给了哪些帮扶？（没有请回复「无」）", "What help was given? (or “none”)")
    ask_followups = Text(
        "需要跟进的事项？写成「日期 事项」，多项用「；」分开，例：{example} 寄口罩（没有请回复「无」）",
        "Follow-ups? Write “date what”, several separated by “;”, e.g. {example} send masks "
        "(or “none”)",
    )
    followups_added = Text("跟进事项：{items}", "Follow-ups: {items}")
    no_followups = Text("没有跟进事项。", "No follow-ups.")
    followup_item = Text("#{number} {due} {what}", "#{number} {due} {what}")
    visit = Text("云家访", "Home visit")
    talk = Text("谈心谈话", "Talk")
    followup_done = Text(
        "✓ 跟进事项 #{number}（{name}：{what}）已完成。",
        "✓ Follow-up #{number} ({name}: {what}) done.",
    )
    bad_number = Text(
        "请写上跟进事项的编号，例：完成 3", "Give the follow-up's number, e.g. /done 3"
    )
    track_started = Text(
        "✓ 已开始对 {name}（{number}）的每日云跟踪，每天 {time} 私信询问身体情况，直到发送：康复 {number}",
        "✓ Daily follow-up of {name} ({number}) started: asked privately every day at {time} "
        "until /recovered {number}",
    )
    track_to_student = Text(
        "🩺 老师会每天 {time} 私信问问你的身体情况，直到你恢复。现在也可以直接回复：身体 <体温> [症状]，例：身体 36.8 咳嗽",
        "🩺 Your counselor will ask how you feel every day at {time} until you are well. You can "
        "answer now: /feel <temperature> [symptoms], e.g. /feel 36.8 cough",
    )
    track_from_checkin = Text(
        "🩺 你今天的打卡有异常。接下来每天 {time} 我会私信问问你的身体情况，直到老师确认你已恢复。"
        "回复：身体 <体温> [症状]",
        "🩺 Today's check-in was abnormal. I will ask how you feel every day at {time} until "
        "your counselor marks you recovered. Answer: /feel <temperature> [symptoms]",
    )
    track_opened_staff = Text(
        "ℹ️ {name}（{number}，{cls}）打卡异常，已自动开始每日云跟踪。康复后请发送：康复 {number}",
        "ℹ️ {name} ({number}, {cls}) checked in abnormal; a daily follow-up has started. "
        "When they are well: /recovered {number}",
    )
    recovered = Text(
        "✓ {name}（{number}）已标记康复，每日云跟踪结束（共 {days} 天、{answers} 次回复）。",
        "✓ {name} ({number}) marked recovered; the daily follow-up ends ({days} days, "
        "{answers} answers).",
    )
    recovered_to_student = Text(
        "🌿 老师已确认你恢复健康，每日身体情况询问到此结束。祝你一切都好！",
        "🌿 Your counselor has marked you recovered; the daily questions end here. Take care!",
    )
    answer_recorded = Text(
        "✓ 已记录今天的身体情况：体温 {temp}℃，症状：{symptoms}。谢谢，好好休息。",
        "✓ Today's answer recorded: {temp} °C, symptoms: {symptoms}. Thank you; rest well.",
    )
    answer_worse = Text(
        "老师已收到提醒，会尽快联系你。如有急症请立即就医。",
        "Your counselor has been alerted and will contact you soon. If it is urgent, see a "
        "doctor now.",
    )
    worse_alert = Text(
        "⚠️ 云跟踪加重：{name}（{number}，{cls}）今天体温 {temp}℃，症状：{symptoms}{before}。请尽快联系。",
        "⚠️ Follow-up worse: {name} ({number}, {cls}) today {temp} °C, symptoms: {symptoms}"
        "{before}. Please get in touch.",
    )
    highest_before = Text("（此前最高 {temp}℃）", " (highest before {temp} °C)")
    none = Text("无", "none")
    file_head = Text(
        "📁 {name}（{number}，{cls}）档案\n当前标记：{tags}\n未完成跟进：{open}",
        "📁 File of {name} ({number}, {cls})\nTags: {tags}\nOpen follow-ups: {open}",
    )
    file_empty = Text("（还没有任何记录）", "(nothing recorded yet)")
    line_tag = Text("{at} 标记「{category}」", "{at} tagged “{category}”")
    line_untag = Text("{at} 取消标记「{category}」", "{at} tag “{category}” removed")
    line_contact = Text(
        "{at} {kind}（{mode}）参与：{participants}；情况：{situation}；帮扶：{help}",
        "{at} {kind} ({mode}) with: {participants}; found: {situation}; help: {help}",
    )
    line_followup = Text(
        "{at} 跟进 #{number} 截止 {due}：{what}（{state}）",
        "{at} follow-up #{number} due {due}: {what} ({state})",
    )
    done = Text("已完成", "done")
    open = Text("未完成", "open")
    line_track = Text("{at} 开始云跟踪（{source}）", "{at} daily follow-up started ({source})")
    source_checkin = Text("打卡异常", "abnormal check-in")
    source_staff = Text("老师发起", "by staff")
    source_leave = Text("病假", "sick leave")
    not_sick = Text("这是事假，只有病假可以开始云跟踪。", "That is not a sick leave.")
    line_answer = Text(
        "{at} 云跟踪回复：{temp}℃，症状：{symptoms}{worse}",
        "{at} follow-up answer: {temp} °C, symptoms: {symptoms}{worse}",
    )
    worse_mark = Text("（加重）", " (worse)")
    line_recovered = Text("{at} 康复，云跟踪结束", "{at} recovered; follow-up ended")
    line_leave = Text(
        "{at} 请假 {ref} {type} {start}–{end}（{status}）",
        "{at} leave {ref} {type} {start}–{end} ({status})",
    )
    line_abnormal = Text(
        "{at} 异常打卡：{temp}℃，症状：{symptoms}",
        "{at} abnormal check-in: {temp} °C, symptoms: {symptoms}",
    )
    line_subsidy = Text("{at} 补助 {ref}：{action}", "{at} subsidy {ref}: {action}")
    approved = Text("批准", "approved")
    rejected = Text("驳回", "rejected")
    sick = Text("病假", "sick")
    personal = Text("事假", "personal")
    not_reader = Text("学生 {number} 的帮扶档案", "The care file of {number}")
    ledger_sent = Text(
        "📎 帮扶台账（{label}，{count} 名重点学生）",
        "📎 Care ledger ({label}, {count} key students)",
    )
    ledger_scope = Text("帮扶台账 {label}", "The care ledger of {label}")
    bad_scope = Text("「{token}」不是班级或学院。", "“{token}” is neither a class nor a college.")
    your_classes = Text("所带班级", "your classes")


# -- shared parsing --------------------------------------------------------------------------


def today_of(ctx: Context) -> date:
    return ctx.sent_at.astimezone(ctx.config.tz).date()


def mh_contacts(config: Config) -> Mapping[str, Collection[str]] | None:
    """The colleges' mental-health contacts, where the deployment configures them."""
    care = getattr(config, "care", None)
    return getattr(care, "mental_health_contacts", None)


def student_arg(ctx: Context, args: Args, example: Text) -> Person:
    actor = ctx.require_actor()
    if len(args) == 0:
        raise BadArguments(KeyStudentTexts.need_student, example=example.bind())
    return files.student_in_scope(ctx.session, actor, normalize(args.tokens[0]))


def class_code(ctx: Context, person: Person) -> str:
    cls = ctx.session.get(SchoolClass, person.class_id) if person.class_id else None
    return cls.code if cls else "?"


def category_arg(ctx: Context, args: Args) -> str:
    categories = ctx.config.keystudents.categories
    if len(args) < 2:
        listed = "、".join(categories)
        raise BadArguments(
            KeyStudentTexts.need_category("zh", categories=listed),
            KeyStudentTexts.need_category("en", categories=listed),
        )
    return files.require_category(args.rest(1), categories)


# -- tags ------------------------------------------------------------------------------------


@router.command(
    "tag",
    "标记",
    roles=DECIDERS,
    where=Where.PRIVATE,
    usage=C.tag_usage.pair,
    help=C.tag_help.pair,
)
def tag(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    student = student_arg(ctx, args, C.tag_example)
    category = category_arg(ctx, args)
    row = files.tag(ctx.session, actor, student, category, ctx.now)
    _audit(ctx, "care_tag", student, {"category": category, "tag": row.id})
    ctx.reply(
        ctx.render(
            KeyStudentTexts.tagged,
            name=student.name,
            number=student.number,
            cls=class_code(ctx, student),
            category=category,
            days=ctx.config.keystudents.categories[category],
        )
    )


@router.command(
    "untag",
    "取消标记",
    roles=DECIDERS,
    where=Where.PRIVATE,
    usage=C.untag_usage.pair,
    help=C.untag_help.pair,
)
def untag(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    student = student_arg(ctx, args, C.untag_example)
    category = category_arg(ctx, args)
    files.untag(ctx.session, actor, student, category, ctx.now)
    _audit(ctx, "care_untag", student, {"category": category})
    ctx.reply(
        ctx.render(
            KeyStudentTexts.untagged, name=student.name, number=student.number, category=category
        )
    )


def _audit(ctx: Context, action: str, student: Person, detail: dict[str, object]) -> None:
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=ctx.require_actor(),
        action=action,
        target=f"person:{student.number}",
        detail=dict(detail),
    )


# -- contacts --------------------------------------------------------------------------------

# The labelled parts of a one-line contact log: 参与:… 情况:… 帮扶:… 跟进:12-10 寄口罩 日期:12-01
PART_WORDS = {
    "参与": "participants",
    "参与人": "participants",
    "with": "participants",
    "情况": "situation",
    "found": "situation",
    "帮扶": "help",
    "help": "help",
    "跟进": "followup",
    "follow": "followup",
    "日期": "day",
    "date": "day",
}
_PART = re.compile(
    r"(?:^|\s)("
    + "|".join(sorted(map(re.escape, PART_WORDS), key=len, reverse=True))
    + r")\s*[:：]",
    re.IGNORECASE,
)


def read_contact(kind: str, text: str, today: date) -> tuple[str, ContactInput]:
    """The student id and the contact of `家访 <学号> <方式> 参与:… 情况:… 帮扶:… 跟进:日期 事项`."""
    T = KeyStudentTexts
    pieces = text.split(maxsplit=2)
    number = normalize(pieces[0])
    if len(pieces) < 2:
        raise BadArguments(T.need_mode("zh"), T.need_mode("en"))
    mode = files.MODE_WORDS.get(normalize(pieces[1]).lower())
    if mode is None:
        raise BadArguments(T.need_mode("zh"), T.need_mode("en"))
    rest = pieces[2] if len(pieces) > 2 else ""
    marks = list(_PART.finditer(rest))
    if (marks and rest[: marks[0].start()].strip()) or (rest.strip() and not marks):
        part = rest[: marks[0].start()].strip() if marks else rest.strip()
        raise BadArguments(
            T.unknown_part("zh", part=part[:20]), T.unknown_part("en", part=part[:20])
        )
    parts: dict[str, str] = {}
    followups: list[tuple[date, str]] = []
    day = today
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(rest)
        value = rest[m.end() : end].strip().strip("，,;；")
        key = PART_WORDS[m.group(1).lower()]
        if key == "followup":
            followups.append(_read_followup(value, today))
        elif key == "day":
            found = try_parse_date(value, today)
            if found is None or found > today:
                raise bad_date(value, today)
            day = found
        else:
            parts[key] = f"{parts[key]}；{value}" if key in parts else value
    if not parts.get("situation"):
        raise BadArguments(T.need_situation("zh"), T.need_situation("en"))
    return number, ContactInput(
        kind=kind,
        day=day,
        mode=mode,
        participants=parts.get("participants", ""),
        situation=parts["situation"],
        help_given=parts.get("help", ""),
        followups=tuple(followups),
    )


def log_contact(ctx: Context, args: Args, kind: str) -> None:
    actor = ctx.require_actor()
    example = C.visit_example if kind == files.VISIT else C.talk_example
    if len(args) == 0:
        raise BadArguments(KeyStudentTexts.need_student, example=example.bind())
    today = today_of(ctx)
    if len(args) == 1:
        student = files.student_in_scope(ctx.session, actor, normalize(args.tokens[0]))
        ctx.ask(
            ctx.render(
                KeyStudentTexts.ask_mode,
                name=student.name,
                number=student.number,
                kind=ctx.render(_kind_text(kind)),
            ),
            expect="keystudents.contact",
            state={"kind": kind, "number": student.number, "step": "mode"},
        )
        return
    number, data = read_contact(kind, args.text, today)
    save_contact(ctx, number, data)


def _kind_text(kind: str) -> Text:
    return KeyStudentTexts.visit if kind == files.VISIT else KeyStudentTexts.talk


# The questions of a contact logged as a conversation, in order: (step, its question).
STEPS = ("mode", "participants", "situation", "help", "followups")
NONE_WORDS = frozenset({"无", "没有", "none", "no", "-"})


@router.answer("keystudents.contact")
def contact_answer(ctx: Context, text: str, state: dict[str, Any]) -> None:
    """One answer of a contact logged step by step; the last one stores it."""
    T = KeyStudentTexts
    today = today_of(ctx)
    step = state["step"]
    value = text.strip()
    if normalize(value).lower() in NONE_WORDS and step in ("participants", "help", "followups"):
        value = ""
    if step == "mode":
        mode = files.MODE_WORDS.get(normalize(value).lower())
        if mode is None:
            raise BadArguments(T.need_mode("zh"), T.need_mode("en"))
        value = mode
    elif step == "situation" and not value:
        raise BadArguments(T.need_situation("zh"), T.need_situation("en"))
    elif step == "followups":
        for item in _split_items(value):
            _read_followup(item, today)
    files.check_text(value, *C.answer.pair)
    state = {**state, step: value}
    following = STEPS.index(step) + 1
    if following < len(STEPS):
        nxt = STEPS[following]
        example = f"{(today + timedelta(days=2)).month}-{(today + timedelta(days=2)).day}"
        question = {
            "participants": T.ask_participants,
            "situation": T.ask_situation,
            "help": T.ask_help,
            "followups": T.ask_followups,
        }[nxt]
        ctx.ask(
            ctx.render(question, example=example),
            expect="keystudents.contact",
            state={**state, "step": nxt},
        )
        return
    data = ContactInput(
        kind=state["kind"],
        day=today,
        mode=state["mode"],
        participants=state["participants"],
        situation=state["situation"],
        help_given=state["help"],
        followups=tuple(_read_followup(i, today) for i in _split_items(state["followups"])),
    )
    save_contact(ctx, state["number"], data)


def _split_items(value: str) -> list[str]:
    return [i.strip() for i in re.split(r"[；;]", value) if i.strip()]


def _read_followup(value: str, today: date) -> tuple[date, str]:
    when, _, what = value.strip().partition(" ")
    due = try_parse_date(when, today, future=True) if when else None
    if due is None or not what.strip():
        example = f"{today.month}-{today.day}"
        raise BadArguments(
            KeyStudentTexts.bad_followup("zh", example=example),
            KeyStudentTexts.bad_followup("en", example=example),
        )
    return due, what.strip()


def save_contact(ctx: Context, number: str, data: ContactInput) -> None:
    """Store a contact (and its follow-ups) and say what was stored."""
    actor = ctx.require_actor()
    kind = data.kind
    today = today_of(ctx)
    student = files.student_in_scope(ctx.session, actor, number)
    contact, followups = files.record_contact(ctx.session, actor, student, data, ctx.now)
    _audit(ctx, f"care_{kind}", student, {"contact": contact.id, "followups": len(followups)})
    T = KeyStudentTexts
    items = (
        ctx.render(
            T.followups_added,
            items="；".join(
                ctx.render(
                    T.followup_item,
                    number=f.id,
                    due=short_day(f.due, today, ctx.lang),
                    what=f.what,
                )
                for f in followups
            ),
        )
        if followups
        else ctx.render(T.no_followups)
    )
    ctx.reply(
        ctx.render(
            T.contact_logged,
            name=student.name,
            number=student.number,
            kind=ctx.render(T.visit if kind == files.VISIT else T.talk),
            day=short_day(data.day, today, ctx.lang),
            mode=data.mode,
            followups=items,
        )
    )


# The contact commands (name, keyword): their usage line names the keyword the bot reads.
VISIT = ("visit", "家访")
TALK = ("talk", "谈话")


def _contact_usage(command: tuple[str, str]) -> tuple[str, str]:
    name, word = command
    return (C.contact_usage("zh", word=word), C.contact_usage("en", word=name))


@router.command(
    *VISIT,
    roles=DECIDERS,
    where=Where.PRIVATE,
    aliases=("云家访",),
    usage=_contact_usage(VISIT),
    help=C.visit_help.pair,
)
def visit(ctx: Context, args: Args) -> None:
    log_contact(ctx, args, files.VISIT)


@router.command(
    *TALK,
    roles=DECIDERS,
    where=Where.PRIVATE,
    aliases=("谈心谈话",),
    usage=_contact_usage(TALK),
    help=C.talk_help.pair,
)
def talk(ctx: Context, args: Args) -> None:
    log_contact(ctx, args, files.TALK)


@router.command(
    "done",
    "完成",
    roles=DECIDERS,
    where=Where.PRIVATE,
    usage=C.done_usage.pair,
    help=C.done_help.pair,
)
def done(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    token = normalize(args.tokens[0]).lstrip("#") if len(args) == 1 else ""
    if not token.isdigit():
        raise BadArguments(KeyStudentTexts.bad_number("zh"), KeyStudentTexts.bad_number("en"))
    row = files.finish_followup(ctx.session, actor, int(token), ctx.now)
    student = ctx.session.get(Person, row.student_id)
    assert student is not None
    _audit(ctx, "care_followup_done", student, {"followup": row.id})
    ctx.reply(
        ctx.render(KeyStudentTexts.followup_done, number=row.id, name=student.name, what=row.what)
    )


# -- 云跟踪 ------------------------------------------------------------------------------------


def prompt_time(ctx: Context) -> str:
    return f"{care_times(ctx.config)[1]:%H:%M}"


@router.command(
    "track",
    "跟踪",
    roles=DECIDERS,
    where=Where.PRIVATE,
    aliases=("云跟踪",),
    usage=C.track_usage.pair,
    help=C.track_help.pair,
)
def track(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    ref = requests.parse_ref(args.tokens[0]) if len(args) == 1 else None
    source = files.FROM_STAFF
    if ref is not None and ref.kind_name == LEAVE.name:
        # 跟踪 L3: the student of a sick leave.
        leave = leaves.get(ctx.session, ref.number)
        actor.require_class(leave.class_id, C.a_leave.bind(ref=LEAVE.ref(ref.number)))
        if LEAVE.read(leave).type != leaves.SICK:
            raise BadArguments(KeyStudentTexts.not_sick("zh"), KeyStudentTexts.not_sick("en"))
        found = ctx.session.get(Person, leave.student_id)
        assert found is not None
        student, source = found, files.FROM_LEAVE
    else:
        student = student_arg(ctx, args, C.track_example)
    existing = files.open_track(ctx.session, student.id)
    if existing is not None:
        raise files.Refused(
            files.KeyStudentErrors.already_tracking,
            name=student.name,
            number=student.number,
            since=short_day(existing.opened_at.astimezone(ctx.config.tz).date(), today_of(ctx)),
        )
    row = files.start_track(
        ctx.session, student, source=source, now=ctx.now, opened_by=actor.person_id
    )
    _audit(ctx, "care_track", student, {"track": row.id})
    ctx.reply(
        ctx.render(
            KeyStudentTexts.track_started,
            name=student.name,
            number=student.number,
            time=prompt_time(ctx),
        )
    )
    ctx.notify([student.id], ctx.render(KeyStudentTexts.track_to_student, time=prompt_time(ctx)))


def track_abnormal_checkin(ctx: Context, actor: Actor, reading: Reading) -> None:
    """An abnormal check-in opens a 云跟踪 when the deployment says so (and none is open)."""
    if not ctx.config.keystudents.track_abnormal:
        return
    student = ctx.session.get(Person, actor.person_id)
    if student is None or student.class_id is None:
        return
    if files.open_track(ctx.session, student.id) is not None:
        return
    files.start_track(
        ctx.session,
        student,
        source=files.FROM_CHECKIN,
        now=ctx.now,
        base_temp_tenths=reading.temp_tenths,
        base_symptoms=reading.symptoms,
    )
    ctx.notify([student.id], ctx.render(KeyStudentTexts.track_from_checkin, time=prompt_time(ctx)))
    ctx.notify(
        (p.id for p in care_readers(ctx.session, student.id, contacts=mh_contacts(ctx.config))),
        ctx.render(
            KeyStudentTexts.track_opened_staff,
            name=student.name,
            number=student.number,
            cls=class_code(ctx, student),
        ),
    )


@router.command(
    "recovered",
    "康复",
    roles=DECIDERS,
    where=Where.PRIVATE,
    usage=C.recovered_usage.pair,
    help=C.recovered_help.pair,
)
def recovered(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    student = student_arg(ctx, args, C.recovered_example)
    row = files.end_track(ctx.session, actor, student, ctx.now)
    answered = files.answers(ctx.session, row.id)
    _audit(ctx, "care_recovered", student, {"track": row.id})
    tz = ctx.config.tz
    days = (today_of(ctx) - row.opened_at.astimezone(tz).date()).days + 1
    ctx.reply(
        ctx.render(
            KeyStudentTexts.recovered,
            name=student.name,
            number=student.number,
            days=days,
            answers=len(answered),
        )
    )
    ctx.notify([student.id], ctx.render(KeyStudentTexts.recovered_to_student))


@router.command(
    "feel",
    "身体",
    roles=STUDENTS,
    where=Where.PRIVATE,
    aliases=("身体情况",),
    usage=C.feel_usage.pair,
    help=C.feel_help.pair,
    needs_consent=True,
)
def feel(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    row = files.open_track(ctx.session, actor.person_id)
    if row is None:
        raise files.Refused(files.KeyStudentErrors.no_track_of_mine)
    reading = read_checkin(args.text, ctx.config.checkin)
    answer_track(ctx, actor, row, reading)


def answer_track(ctx: Context, actor: Actor, row: HealthTrack, reading: Reading) -> None:
    """One day's answer into the file; a worse one alerts the class's staff at once."""
    earlier = files.answers(ctx.session, row.id)
    before = [a.temp_tenths for a in earlier] + (
        [row.base_temp_tenths] if row.base_temp_tenths is not None else []
    )
    answer = files.record_answer(
        ctx.session,
        row,
        day=today_of(ctx),
        temp_tenths=reading.temp_tenths,
        symptoms=reading.symptoms,
        note=reading.note,
        now=ctx.now,
        abnormal_tenths=round(ctx.config.checkin.abnormal_temperature * 10),
    )
    none = ctx.render(KeyStudentTexts.none)
    symptoms = "、".join(reading.symptoms) or none
    text = ctx.render(
        KeyStudentTexts.answer_recorded, temp=format_temp(reading.temp_tenths), symptoms=symptoms
    )
    if answer.worse:
        text += "\n" + ctx.render(KeyStudentTexts.answer_worse)
        student = ctx.session.get(Person, actor.person_id)
        assert student is not None
        staff = identity.staff_for_class(
            ctx.session, row.class_id, (Role.COUNSELOR, Role.HEAD_TEACHER)
        )
        ctx.notify(
            (p.id for p in staff),
            OutgoingMessage(
                ctx.render(
                    KeyStudentTexts.worse_alert,
                    name=student.name,
                    number=student.number,
                    cls=class_code(ctx, student),
                    temp=format_temp(reading.temp_tenths),
                    symptoms=symptoms,
                    before=ctx.render(KeyStudentTexts.highest_before, temp=format_temp(max(before)))
                    if before
                    else "",
                )
            ),
            tags=("health",),
        )
    ctx.reply(text)


# -- 档案 --------------------------------------------------------------------------------------


@router.command(
    "file",
    "档案",
    roles=STAFF,
    where=Where.PRIVATE,
    usage=C.file_usage.pair,
    help=C.file_help.pair,
)
def file_(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    student = _readable_student(ctx, args)
    audit_read(ctx.session, actor, student.id, "file", now=ctx.now)
    ctx.reply(file_text(ctx, student))


def _readable_student(ctx: Context, args: Args) -> Person:
    actor = ctx.require_actor()
    if len(args) == 0:
        raise BadArguments(KeyStudentTexts.need_student, example=C.file_example.bind())
    number = normalize(args.tokens[0])
    student = identity.find_person(ctx.session, number)
    if student is None or not Role(student.role).is_student:
        raise files.RefusedWithUsage(files.KeyStudentErrors.not_a_student, number=number)
    if not may_read_care(ctx.session, actor, student.id, contacts=mh_contacts(ctx.config)):
        raise OutOfScope(
            what=KeyStudentTexts.not_reader("zh", number=number),
            what_en=KeyStudentTexts.not_reader("en", number=number),
        )
    return student


def file_text(ctx: Context, student: Person) -> str:
    T = KeyStudentTexts
    tz = ctx.config.tz
    today = today_of(ctx)
    none = ctx.render(T.none)

    def at(value: object) -> str:
        local = value.astimezone(tz)  # type: ignore[attr-defined]
        return f"{short_day(local.date(), today, ctx.lang)} {local:%H:%M}"

    def day(value: date | None) -> str:
        return short_day(value, today, ctx.lang) if value else "?"

    lines = []
    for e in files.timeline(ctx.session, student.id):
        p = e.parts
        when = at(e.at)
        if e.kind == "tag":
            lines.append(ctx.render(T.line_tag, at=when, category=p["category"]))
        elif e.kind == "untag":
            lines.append(ctx.render(T.line_untag, at=when, category=p["category"]))
        elif e.kind in files.KINDS:
            lines.append(
                ctx.render(
                    T.line_contact,
                    at=day(p["day"]),
                    kind=ctx.render(T.visit if e.kind == files.VISIT else T.talk),
                    mode=p["mode"],
                    participants=p["participants"] or none,
                    situation=p["situation"],
                    help=p["help"] or none,
                )
            )
        elif e.kind == "followup":
            lines.append(
                ctx.render(
                    T.line_followup,
                    at=when,
                    number=p["number"],
                    due=day(p["due"]),
                    what=p["what"],
                    state=ctx.render(T.done if p["done"] else T.open),
                )
            )
        elif e.kind == "track":
            source = {
                files.FROM_CHECKIN: T.source_checkin,
                files.FROM_LEAVE: T.source_leave,
            }.get(p["source"], T.source_staff)
            lines.append(ctx.render(T.line_track, at=when, source=ctx.render(source)))
        elif e.kind == "answer":
            lines.append(
                ctx.render(
                    T.line_answer,
                    at=when,
                    temp=format_temp(p["temp"]),
                    symptoms=p["symptoms"] or none,
                    worse=ctx.render(T.worse_mark) if p["worse"] else "",
                )
            )
        elif e.kind == "recovered":
            lines.append(ctx.render(T.line_recovered, at=when))
        elif e.kind == "leave":
            lines.append(
                ctx.render(
                    T.line_leave,
                    at=when,
                    ref=LEAVE.ref(p["number"]),
                    type=ctx.render(T.sick if p["type"] == "sick" else T.personal),
                    start=day(p["start"]),
                    end=day(p["end"]),
                    status=LEAVE.label(p["status"], ctx.lang),
                )
            )
        elif e.kind == "abnormal":
            lines.append(
                ctx.render(
                    T.line_abnormal,
                    at=when,
                    temp=format_temp(p["temp"]),
                    symptoms=p["symptoms"] or none,
                )
            )
        elif e.kind == "subsidy":
            action = T.approved if p["action"] == "approve" else T.rejected
            lines.append(
                ctx.render(
                    T.line_subsidy, at=when, ref=SUBSIDY.ref(p["number"]), action=ctx.render(action)
                )
            )
    tags = "、".join(t.category for t in files.active_tags(ctx.session, student.id)) or none
    open_items = (
        "；".join(
            ctx.render(T.followup_item, number=f.id, due=day(f.due), what=f.what)
            for f in files.open_followups(ctx.session, student.id)
        )
        or none
    )
    head = ctx.render(
        T.file_head,
        name=student.name,
        number=student.number,
        cls=class_code(ctx, student),
        tags=tags,
        open=open_items,
    )
    return "\n".join([head, *(lines or [ctx.render(T.file_empty)])])


# -- 帮扶台账 ----------------------------------------------------------------------------------


@router.command(
    "careledger",
    "帮扶台账",
    roles=STAFF,
    where=Where.PRIVATE,
    usage=C.careledger_usage.pair,
    help=C.careledger_help.pair,
)
def careledger(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    T = KeyStudentTexts
    if len(args) > 1:
        raise BadArguments(
            T.bad_scope("zh", token=args.rest(1)[:20]), T.bad_scope("en", token=args.rest(1)[:20])
        )
    if len(args) == 1:
        token = normalize(args.tokens[0])
        hit = reports.find_classes(ctx.session, token)
        if hit is None:
            raise BadArguments(T.bad_scope("zh", token=token), T.bad_scope("en", token=token))
        if not actor.all_classes and not hit.class_ids <= actor.class_ids:
            raise OutOfScope(
                what=T.ledger_scope("zh", label=hit.label),
                what_en=T.ledger_scope("en", label=hit.label),
            )
        class_ids, label = frozenset(hit.class_ids), hit.label
    else:
        class_ids = frozenset(actor.class_ids)
        label = ctx.render(T.your_classes)
    readable = [
        sid
        for sid in files.tagged_or_contacted(
            ctx.session, None if actor.all_classes and len(args) == 0 else class_ids
        )
        if may_read_care(ctx.session, actor, sid, contacts=mh_contacts(ctx.config))
    ]
    if not readable:
        raise OutOfScope(
            what=T.ledger_scope("zh", label=label), what_en=T.ledger_scope("en", label=label)
        )
    book = files.build_ledger(ctx.session, readable, label, today_of(ctx), ctx.config.tz, ctx.lang)
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=actor,
        action="export",
        target=f"care_ledger:{label}",
        detail={"rows": book.rows, "sha256": book.sha256, "students": len(readable)},
    )
    ctx.reply(
        OutgoingMessage(
            ctx.render(T.ledger_sent, label=label, count=len(readable)),
            attachment=Attachment(book.filename, book.content),
        )
    )


FEATURE = Feature(router, jobs=KEYSTUDENT_JOBS)
