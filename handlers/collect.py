"""信息收集: collections staff start from a template (收集), students answer privately (填),
staff follow them (进度) and export them (导出 C3, through the ledger's export command).

A collection is a campaign of kind `collection` (storage/campaigns.py) whose form is a
template's (storage/forms.py). It is posted in each bound class group of its audience (and
privately to each student with `[collect] private = true` or a template's `private`); its
reminders before and at the deadline are the campaign engine's (schedules/campaigns.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.dates import day_label, try_parse_date
from bot.messages import Attachment, ChatAddress, Envelope, OutgoingMessage, PersonAddress
from bot.router import (
    DECIDERS,
    STAFF,
    STUDENTS,
    Args,
    CommandRouter,
    Context,
    Feature,
    normalize,
)
from bot.texts import Catalogue, Text
from handlers.collect_texts import CollectTexts
from handlers.notices import NoticeCommandTexts
from schedules.campaigns import verb_of
from storage import audit, campaigns, forms, identity, keystudents, ledger
from storage.campaigns import Audience, CampaignKind, CampaignTexts, Instance, Period, Reminders
from storage.errors import BadArguments, DomainError, NotFound, OutOfScope
from storage.forms import Template
from storage.identity import Actor
from storage.models import CareTag, College, Person, Role

router = CommandRouter("collect")

COLLECTION = CampaignKind(
    name="collection",
    noun=("信息收集", "Collection"),
    period=Period.ONCE,
    reminders=Reminders.GROUP,
    zero_report=True,
    retention_days=365,
    sheet="信息收集",
    # Answers are taken in private chat only.
    in_groups=False,
    verb=CollectTexts.verb,
)

ONCE = "once"
STARTERS = frozenset({Role.COUNSELOR, Role.COLLEGE_ADMIN, Role.SCHOOL_ADMIN})
# Who sees sensitive answers (a phone number) in progress lists and exports: a head teacher
# reads the counts and the answers, not the sensitive ones.
SENSITIVE_READERS = frozenset({Role.COUNSELOR, Role.COLLEGE_ADMIN, Role.SCHOOL_ADMIN})
_TIME = re.compile(r"(\d{1,2})[:：点](\d{2})?分?")
_ALL_WORDS = ("全部", "all")
_ID = re.compile(r"[A-Za-z]\d{1,9}")
# A care category as a scope: #未就业, 标签:未就业 or tag:未就业.
_TAG = re.compile(r"(?:#|(?:标签|tag)[:：])(.+)", re.IGNORECASE)


class TagScopeTexts(Catalogue):
    no_tagged = Text(
        "你负责的班级里没有标记为「{category}」的同学。",
        "No student in your classes is tagged “{category}”.",
    )
    tag_what = Text("关怀类别「{category}」", "the care category “{category}”")
    readers_only = Text(
        "按关怀类别发起的 {ref} 只有辅导员和学院管理员可以查看。",
        "{ref} was started for a care category: only counselors and college admins may see it.",
    )


class CollectionClosed(DomainError):
    """An answer to a collection past its deadline (no usage line: the form was right)."""

    def render(self, lang: str) -> str:
        return CollectTexts.closed(lang, **self.params)


class CareReadersOnly(DomainError):
    """A campaign aimed at a care category, asked about by staff who may not read tags."""

    text = TagScopeTexts.readers_only
    refusal = True


def _problem(text: Text, **params: object) -> BadArguments:
    return BadArguments(text("zh", **params), text("en", **params))


def when(at: datetime, config: Config) -> str:
    """A deadline in the one date style: 11月24日 18:00."""
    local = at.astimezone(config.tz)
    return f"{day_label(local.date(), config.bot.language)} {local:%H:%M}"


# -- starting a collection ------------------------------------------------------------------


def template_names(config: Config) -> list[str]:
    return [p.stem for p in forms.template_files(forms.templates_dir(config.collect.templates_dir))]


def named_template(config: Config, name: str) -> Template:
    """A template of `collect.templates_dir` by name; a malformed one is TemplateInvalid."""
    directory = forms.templates_dir(config.collect.templates_dir)
    path = forms.find_template(directory, name)
    if path is None:
        names = "、".join(template_names(config)) or CollectTexts.no_templates("zh")
        raise BadArguments(
            CollectTexts.no_template("zh", name=name, names=names),
            CollectTexts.no_template("en", name=name, names=names),
        )
    return forms.load_template(path)


def audience_for(session: Session, actor: Actor, token: str) -> Audience | None:
    """A class code, a college name, or 全部, within the actor's reach; None: not a scope."""
    word = normalize(token)
    if word.lower() in _ALL_WORDS:
        return default_audience(actor)
    cls = identity.class_by_code(session, token) or identity.class_by_code(session, word)
    if cls is not None:
        actor.require_class(cls.id, what=NoticeCommandTexts.a_class.bind(code=cls.code))
        return Audience(class_ids=frozenset({cls.id}))
    college = campaigns.college_by_name(session, word)
    if college is not None:
        if actor.all_classes or (
            actor.role is Role.COLLEGE_ADMIN and actor.college_id == college.id
        ):
            return Audience(college_id=college.id)
        raise OutOfScope(what=NoticeCommandTexts.a_college.bind(name=college.name))
    return None


def default_audience(actor: Actor) -> Audience:
    """Everything the sender reaches: the school, their college, or their classes."""
    if actor.all_classes:
        return Audience(school=True)
    if actor.role is Role.COLLEGE_ADMIN and actor.college_id is not None:
        return Audience(college_id=actor.college_id)
    return Audience(class_ids=actor.class_ids)


def tag_audience(
    session: Session, actor: Actor, token: str, categories: Mapping[str, int]
) -> Audience | None:
    """#<类别>: the students tagged with that care category in the actor's reach, asked in
    private only. Tags are care records: only counselors and college admins start these.
    None: the token is not a tag scope."""
    m = _TAG.fullmatch(normalize(token))
    if m is None:
        return None
    category = m.group(1).strip()
    if actor.role not in DECIDERS:
        raise OutOfScope(what=TagScopeTexts.tag_what.bind(category=category))
    keystudents.require_category(category, categories)
    query = (
        select(CareTag.student_id)
        .join(Person, Person.id == CareTag.student_id)
        .where(
            CareTag.category == category,
            CareTag.removed_at.is_(None),
            Person.active.is_(True),
            Person.role.in_(campaigns.STUDENT_ROLES),
        )
    )
    if not actor.all_classes:
        query = query.where(Person.class_id.in_(sorted(actor.class_ids)))
    students = frozenset(session.scalars(query.distinct()))
    if not students:
        raise _problem(TagScopeTexts.no_tagged, category=category)
    return Audience(tag=category, students=students)


def read_deadline(tokens: list[str], today: date, tz: Any) -> tuple[datetime | None, list[str]]:
    """A deadline among the tokens (a date, a time, or both), and the tokens left over."""
    day: date | None = None
    at: time | None = None
    rest: list[str] = []
    for token in tokens:
        if day is None:
            try:
                found = try_parse_date(token, today, future=True)
            except BadArguments:
                found = None
            if found is not None:
                day = found
                continue
        m = _TIME.fullmatch(normalize(token))
        if at is None and m is not None:
            hour, minute = int(m.group(1)), int(m.group(2) or 0)
            if hour > 23 or minute > 59:
                raise _problem(CollectTexts.bad_time, token=token)
            at = time(hour, minute)
            continue
        rest.append(token)
    if day is None and at is None:
        return None, rest
    return datetime.combine(day or today, at or time(23, 59), tzinfo=tz), rest


def default_deadline(template: Template, now: datetime, config: Config) -> datetime:
    day = now.astimezone(config.tz).date() + timedelta(days=template.deadline_days)
    return datetime.combine(day, time(23, 59), tzinfo=config.tz)


@dataclass(frozen=True)
class Launched:
    campaign: Instance
    envelopes: list[Envelope]
    groups: int
    students: int


def launch(
    session: Session,
    config: Config,
    template: Template,
    audience: Audience,
    deadline: datetime,
    *,
    now: datetime,
    created_by: int | None,
    sender: str,
    platforms: Collection[str],
    title: str | None = None,
) -> Launched:
    """Create the collection and what announces it: a post in each class group of the
    audience, and privately to each student where configured."""
    lang = config.bot.language
    if deadline <= now:
        raise _problem(CollectTexts.past_deadline, deadline=when(deadline, config))
    classes = campaigns.audience_classes(session, audience)
    if classes is not None and not classes:
        raise _problem(CollectTexts.no_classes)
    before = template.remind_before_hours[0] if template.remind_before_hours else 0.0
    c = campaigns.create(
        session,
        COLLECTION,
        title=title or template.heading(lang),
        audience=audience,
        deadline=deadline,
        now=now,
        created_by=created_by,
        form=template.form,
        remind_before=timedelta(hours=before),
        in_groups=False,
        body=template.description_en if lang == "en" else template.description,
    )
    today = now.astimezone(config.tz).date()
    description = c.body or ""
    text = CollectTexts.posted(
        lang,
        ref=c.ref,
        title=c.title,
        sender=sender,
        description=f"\n{description}" if description else "",
        deadline=when(deadline, config),
        order=c.form.order(lang),
        example=c.form.example_line(lang, today),
    )
    envelopes: list[Envelope] = []
    groups = [] if audience.private_only else campaigns.groups_in(session, classes, platforms)
    for g in groups:
        envelopes.append(Envelope(ChatAddress(g.platform, g.chat_id, True), OutgoingMessage(text)))
    students = campaigns.students_of(session, c)
    if config.collect.private or template.private or audience.private_only:
        envelopes += [Envelope(PersonAddress(pid), OutgoingMessage(text)) for pid in students]
    return Launched(c, envelopes, len(groups), len(students))


class CollectCommandTexts(Catalogue):
    """The 收集, 填 and 进度 commands' usage and help, and what their refusals name."""

    collect_usage = Text(
        "收集 <模板名> [班级|学院|全部] [截止日期] [时间]，"
        "例：收集 {template} {{class_code}} {{tomorrow}} 18:00",
        "/collect <template> [class|college|all] [deadline date] [time], "
        "e.g. /collect {template} {{class_code}} {{tomorrow}} 18:00",
    )
    collect_help = Text(
        "按模板发起信息收集（默认发给你负责的全部班级），同学私聊填写，截止前提醒未填的同学",
        "start a collection from a template; students answer privately and are reminded",
    )
    fill_usage = Text(
        "填 <编号> [答案…]，例：填 C3 2027-01-15 湖北恩施 火车 2027-02-20　或　填 C3（逐题回答）",
        "/fill <id> [answers…], e.g. /fill C3 2027-01-15 Enshi train 2027-02-20, or /fill C3 "
        "to answer question by question",
    )
    fill_help = Text(
        "填写信息收集（私聊；只发「填」列出要填的收集）",
        "answer a collection (privately; /fill alone lists yours)",
    )
    progress_usage = Text(
        "进度 <编号> [班级|学院]，例：进度 C3　或　进度 C3 {class_code}",
        "/progress <id> [class|college], e.g. /progress C3 {class_code}",
    )
    progress_help = Text(
        "信息收集或通知的进度：各班完成数，未完成名单（私聊发送）",
        "a collection's or notice's progress per class, with who is missing (sent privately)",
    )
    for_you = Text("给你的信息收集 {ref}", "A collection {ref} for you")


# The template the 收集 usage names, by its (Chinese) name as a counselor types it.
EXAMPLE_TEMPLATE = ("寒假离校返乡登记",)
# The 填 command (name, keyword): a line answer is read after the keyword and the id.
FILL = ("fill", "填")


def _collect_usage() -> tuple[str, str]:
    T, template = CollectCommandTexts.collect_usage, EXAMPLE_TEMPLATE[0]
    return (T("zh", template=template), T("en", template=template))


@router.command(
    "collect",
    "收集",
    roles=STARTERS,
    usage=_collect_usage(),
    help=CollectCommandTexts.collect_help.pair,
)
def collect(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    if not args.tokens:
        names = "、".join(template_names(ctx.config)) or ctx.render(CollectTexts.no_templates)
        raise _problem(CollectTexts.name_template, names=names)
    template = named_template(ctx.config, args.tokens[0])
    today = ctx.now.astimezone(ctx.config.tz).date()
    deadline, rest = read_deadline(list(args.tokens[1:]), today, ctx.config.tz)
    audience: Audience | None = None
    categories = ctx.config.keystudents.categories
    for token in rest:
        found = tag_audience(ctx.session, actor, token, categories) or audience_for(
            ctx.session, actor, token
        )
        if found is None or audience is not None:
            raise _problem(CollectTexts.unknown_scope, token=token)
        audience = found
    launched = launch(
        ctx.session,
        ctx.config,
        template,
        audience or default_audience(actor),
        deadline or default_deadline(template, ctx.now, ctx.config),
        now=ctx.now,
        created_by=actor.person_id,
        sender=actor.name,
        platforms=ctx.dispatcher.outbox.platforms(),
    )
    c = launched.campaign
    for envelope in launched.envelopes:
        ctx.send(envelope.to, envelope.message)
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=actor,
        action="collect",
        target=c.ref,
        detail={"template": template.name, "students": launched.students},
    )
    ctx.reply(
        ctx.render(
            CollectTexts.started,
            ref=c.ref,
            title=c.title,
            groups=launched.groups,
            students=launched.students,
            deadline=when(c.deadline, ctx.config),
        )
    )


# -- answering ------------------------------------------------------------------------------


def _kinds(ctx: Context) -> campaigns.Campaigns:
    return ctx.dispatcher.campaign_kinds


def _student(ctx: Context) -> Person:
    actor = ctx.require_actor()
    person = ctx.session.get(Person, actor.person_id)
    assert person is not None
    return person


def _open_collection(ctx: Context, token: str, person: Person) -> Instance:
    """The open collection a student names; someone else's is not found, a closed one said so."""
    c = campaigns.by_ref(ctx.session, token, _kinds(ctx))
    if c is None or c.kind.name != COLLECTION.name:
        raise _problem(CollectTexts.name_it)
    if not campaigns.covers(ctx.session, c, person):
        raise NotFound(what=CollectCommandTexts.for_you.bind(ref=c.ref))
    if c.status != campaigns.OPEN:
        raise CollectionClosed(ref=c.ref)
    return c


@router.command(
    *FILL,
    roles=STUDENTS,
    # 填 is everyday chat too: in a group only the whole word, or 填 C3.
    also_chat=r"(?:[Cc]\d{1,9})?",
    usage=CollectCommandTexts.fill_usage.pair,
    help=CollectCommandTexts.fill_help.pair,
)
def fill(ctx: Context, args: Args) -> None:
    if ctx.message.is_group:
        # Nothing of an answer is stored from a group.
        ctx.reply(ctx.render(CollectTexts.privately))
        return
    person = _student(ctx)
    if not args.tokens:
        _list_open(ctx, person)
        return
    c = _open_collection(ctx, args.tokens[0], person)
    if len(args) == 1:
        if not c.form.fields:
            _save(ctx, c, person, {})
            return
        _ask(ctx, c, 0, {})
        return
    today = ctx.now.astimezone(ctx.config.tz).date()
    prefix = f"{FILL[1]} {c.ref} " if ctx.lang != "en" else f"/{FILL[0]} {c.ref} "
    answers = forms.parse_line(c.form, args.rest(1), today, prefix=prefix)
    _save(ctx, c, person, answers)


def _list_open(ctx: Context, person: Person) -> None:
    found = campaigns.open_for_student(ctx.session, person, COLLECTION, kinds=_kinds(ctx))
    if not found:
        ctx.reply(ctx.render(CollectTexts.nothing_open))
        return
    lines = []
    for c in found:
        done = campaigns.response(ctx.session, c, ONCE, person.id) is not None
        lines.append(
            ctx.render(
                CollectTexts.open_line,
                ref=c.ref,
                title=c.title,
                deadline=when(c.deadline, ctx.config),
                state=ctx.render(CollectTexts.answered_mark) if done else "",
            )
        )
    ctx.reply(ctx.render(CollectTexts.open_list, lines="\n".join(lines)))


def _ask(ctx: Context, c: Instance, index: int, answers: dict[str, Any]) -> None:
    fld = c.form.fields[index]
    lang = ctx.lang
    today = ctx.now.astimezone(ctx.config.tz).date()
    hint = ""
    if fld.options:
        hint += ctx.render(
            CollectTexts.options_hint,
            options=" ".join(f"{n}.{o}" for n, o in enumerate(fld.options, 1)),
        )
        if fld.type is forms.FieldType.MULTI:
            hint += ctx.render(CollectTexts.multi_hint)
    else:
        hint += ctx.render(CollectTexts.example_hint, example=fld.sample(lang, today))
    if not fld.required:
        hint += ctx.render(CollectTexts.optional_hint)
    text = ctx.render(
        CollectTexts.question,
        ref=c.ref,
        n=index + 1,
        total=len(c.form.fields),
        question=fld.question(lang),
        hint=hint,
    )
    ctx.ask(text, expect="collect.answer", state={"ref": c.ref, "i": index, "answers": answers})


@router.answer("collect.answer")
def answer(ctx: Context, text: str, state: dict[str, Any]) -> None:
    """One answer of a conversation; a refused answer keeps the question pending."""
    person = _student(ctx)
    c = _open_collection(ctx, str(state["ref"]), person)
    index = int(state["i"])
    answers = dict(state.get("answers", {}))
    if index >= len(c.form.fields):
        return
    today = ctx.now.astimezone(ctx.config.tz).date()
    fld = c.form.fields[index]
    answers[fld.key] = forms.parse_value(fld, text, today)
    if index + 1 < len(c.form.fields):
        _ask(ctx, c, index + 1, answers)
        return
    _save(ctx, c, person, answers)


def _save(ctx: Context, c: Instance, person: Person, answers: dict[str, Any]) -> None:
    stored = campaigns.respond(
        ctx.session,
        c,
        person_id=person.id,
        class_id=person.class_id or 0,
        answers=answers,
        now=ctx.sent_at,
        key=ONCE,
    )
    lines = "\n".join(
        ctx.render(
            CollectTexts.answer_line,
            question=f.question(ctx.lang),
            value=forms.format_value(f, answers.get(f.key), ctx.lang),
        )
        for f in c.form.fields
    )
    ctx.reply(
        ctx.render(
            CollectTexts.saved,
            ref=c.ref,
            title=c.title,
            updated=ctx.render(CollectTexts.updated) if stored.replaced else "",
            lines=lines,
        )
    )


# -- following and exporting ----------------------------------------------------------------


def staff_campaign(ctx: Context, args: Args) -> tuple[Instance, frozenset[int] | None, str]:
    """The campaign a staff command names first (C3, N2), the classes of it the asker may see
    (narrowed by a class or college after it), and the label of that scope."""
    actor = ctx.require_actor()
    label = ctx.command.label(ctx.lang)
    if not args.tokens:
        raise _problem(CollectTexts.name_campaign, command=label)
    token = normalize(args.tokens[0])
    c = campaigns.by_ref(ctx.session, token, _kinds(ctx)) if _ID.fullmatch(token) else None
    if c is None:
        raise _problem(CollectTexts.not_a_campaign, token=args.tokens[0])
    if c.audience.private_only and actor.role not in DECIDERS:
        # Who was asked is itself a care record: the tag.
        raise CareReadersOnly(ref=c.ref)
    audience = campaigns.audience_classes(ctx.session, c.audience)
    scope = None if actor.all_classes else actor.class_ids
    labels = []
    for name in args.tokens[1:]:
        hit = audience_for(ctx.session, actor, name)
        if hit is None:
            raise _problem(CollectTexts.unknown_scope, token=name)
        asked = campaigns.audience_classes(ctx.session, hit)
        scope = asked if scope is None else (scope if asked is None else scope & asked)
        labels.append(name)
    seen = scope if audience is None else (audience if scope is None else audience & scope)
    if seen is not None and not seen:
        raise OutOfScope(what=f"{c.kind.noun[0]} {c.ref}", what_en=f"{c.kind.noun[1]} {c.ref}")
    return c, scope, "、".join(labels)


def _privately(ctx: Context, actor: Actor, *messages: OutgoingMessage) -> None:
    if ctx.message.is_group:
        for message in messages:
            ctx.send(PersonAddress(actor.person_id), message)
        ctx.reply(ctx.render(CollectTexts.sent_privately))
    else:
        for message in messages:
            ctx.reply(message)


@router.command(
    "progress",
    "进度",
    roles=STAFF,
    also_chat=r"(?:[A-Za-z]\d{1,9})?",
    usage=CollectCommandTexts.progress_usage.pair,
    help=CollectCommandTexts.progress_help.pair,
)
def progress(ctx: Context, args: Args) -> None:
    actor = ctx.require_actor()
    c, scope, _label = staff_campaign(ctx, args)
    key = campaigns.current_key(c, c.deadline, ctx.config.tz)
    counts = campaigns.progress(ctx.session, c, key, scope)
    missing = {m.code: m for m in campaigns.non_responders(ctx.session, c, key, scope)}
    verb = verb_of(c)(ctx.lang)
    total = counts.total
    closed = ctx.render(CollectTexts.closed_mark) if c.status != campaigns.OPEN else ""
    lines = [
        ctx.render(
            CampaignTexts.progress_head,
            title=c.title,
            ref=c.ref,
            done=total.done,
            of=total.of,
            rate=total.rate,
        ),
        ctx.render(CollectTexts.progress_due, deadline=when(c.deadline, ctx.config), closed=closed),
    ]
    by_college = len(counts.colleges) > 1 or actor.role in (Role.COLLEGE_ADMIN, Role.SCHOOL_ADMIN)
    college_counts = {n.label: n for n in counts.colleges}
    current = None
    for college, n in counts.classes:
        if by_college and college != current:
            current = college
            cn = college_counts[college]
            lines.append(
                ctx.render(
                    CampaignTexts.progress_college,
                    name=college,
                    done=cn.done,
                    of=cn.of,
                    rate=cn.rate,
                )
            )
        lines.append(
            ctx.render(
                CampaignTexts.progress_class, code=n.label, done=n.done, of=n.of, rate=n.rate
            )
        )
        cm = missing.get(n.label)
        if cm is not None and cm.missing:
            lines.append(
                ctx.render(
                    CollectTexts.progress_names,
                    verb=verb,
                    names="、".join(s.name for s in cm.missing),
                )
            )
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=actor,
        action="progress",
        target=c.ref,
        detail={"classes": len(counts.classes)},
    )
    _privately(ctx, actor, OutgoingMessage("\n".join(lines)))


def export_campaign(ctx: Context, args: Args) -> None:
    """导出 C3: the campaign's answers as .xlsx, privately, in the asker's reach; sensitive
    answers only for those who may read them. Audited."""
    actor = ctx.require_actor()
    c, scope, label = staff_campaign(ctx, args)
    if not label:
        if actor.all_classes:
            label = ledger.SCHOOL.label
        elif actor.role is Role.COLLEGE_ADMIN and actor.college_id is not None:
            college = ctx.session.get(College, actor.college_id)
            label = college.name if college else actor.name
        else:
            label = actor.name
    key = campaigns.current_key(c, c.deadline, ctx.config.tz)
    sensitive = actor.role in SENSITIVE_READERS
    book = ledger.campaign_book(
        ctx.session,
        c,
        key,
        ctx.config.tz,
        ledger.LedgerScope(label, scope, include_restricted=sensitive),
        include_sensitive=sensitive,
        lang=ctx.lang,
    )
    audit.record(
        ctx.session,
        at=ctx.now,
        actor=actor,
        action="export",
        target=f"campaign:{c.ref}",
        detail={"scope": label, "rows": book.rows, "sensitive": sensitive, "sha256": book.sha256},
    )
    message = OutgoingMessage(
        ctx.render(CollectTexts.exported, title=c.title, ref=c.ref, label=label, rows=book.rows),
        attachment=Attachment(book.filename, book.content),
    )
    _privately(ctx, actor, message)


def is_item(args: Args) -> bool:
    """Whether a staff command's first argument is an item id (C3), not a date or a class."""
    return bool(args.tokens) and _ID.fullmatch(normalize(args.tokens[0])) is not None


def mine_lines(ctx: Context, person_id: int, today: date) -> list[str]:
    """/mine: the collections still waiting for the student's answer."""
    person = ctx.session.get(Person, person_id)
    if person is None or person.role not in campaigns.STUDENT_ROLES:
        return []
    waiting = campaigns.open_for_student(
        ctx.session,
        person,
        COLLECTION,
        unanswered=True,
        now=ctx.now,
        tz=ctx.config.tz,
        kinds=_kinds(ctx),
    )
    if not waiting:
        return []
    refs = "、".join(f"{c.ref} {c.title}" for c in waiting)
    return [ctx.render(CollectTexts.mine, refs=refs)]


def purge(session: Session, now: datetime) -> int:
    """Retention: a collection's answers go `retention_days` after its deadline."""
    return campaigns.purge(session, now, campaigns.Campaigns(COLLECTION))


# The reminders are the campaign engine's job, which the notices feature brings.
FEATURE = Feature(router, mine=mine_lines, campaigns=(COLLECTION,), retention=purge)
