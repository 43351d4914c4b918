"""The text catalogue: every user-facing text, in Chinese and English, declared once.

Each feature keeps its own table, a `Catalogue` subclass whose attributes are `Text`s:

    class CollectTexts(Catalogue):
        started = Text("已发起「{title}」，编号 {code}", "Started “{title}” as {code}")

    CollectTexts.started("zh", title=..., code=...)   # or ctx.render(CollectTexts.started, ...)

A text is always formatted, so a literal brace is written `{{`. The two languages of a
text take the same parameters; `tests/test_texts.py` renders every text of every table in
both languages and checks that.

This module imports nothing from the project, so storage (the ledger, errors), jobs, the
CLI and the handlers can all use it without a dependency pointing the wrong way.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator, Mapping

LANGUAGES = ("zh", "en")


class Text:
    """One user-facing text in both languages."""

    __slots__ = ("en", "name", "zh")

    def __init__(self, zh: str, en: str) -> None:
        self.zh = zh
        self.en = en
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = f"{owner.__module__}.{owner.__qualname__}.{name}"

    def __call__(self, lang: str, /, **params: object) -> str:
        return (self.en if lang == "en" else self.zh).format(**resolve(params, lang))

    def raw(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh

    @property
    def pair(self) -> tuple[str, str]:
        """(zh, en), for declarations that take both, such as a command's usage and help."""
        return (self.zh, self.en)

    def bind(self, **params: object) -> Phrase:
        """The text with its parameters, rendered later in the reader's language."""
        return Phrase(self, params)

    def parameters(self, lang: str) -> frozenset[str]:
        """The names the text of one language formats in."""
        names = set()
        for _, field, _, _ in string.Formatter().parse(self.raw(lang)):
            if field is not None and field != "":
                names.add(field.split(".")[0].split("[")[0])
        return frozenset(names)

    def __repr__(self) -> str:
        return f"Text({self.name or self.zh!r})"


class Phrase:
    """A text and its parameters, not yet rendered: an error names what it is about as a
    phrase, and the reply renders it in the reader's language. A parameter may itself be a
    phrase."""

    __slots__ = ("params", "text")

    def __init__(self, text: Text, params: dict[str, object]) -> None:
        self.text = text
        self.params = params

    def __call__(self, lang: str, /) -> str:
        return self.text(lang, **resolve(self.params, lang))

    def __repr__(self) -> str:
        return f"Phrase({self.text.name}, {self.params!r})"


class PerLanguage:
    """A parameter computed in the reader's language (a date label, a list of names)."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[str], str]) -> None:
        self.func = func

    def __call__(self, lang: str, /) -> str:
        return self.func(lang)


def resolve(params: Mapping[str, object], lang: str) -> dict[str, object]:
    """Parameters with every phrase among them rendered in `lang`. A value whose type has an
    `in_language(lang)` method (a count with its own words) is rendered by it."""
    return {k: _in(v, lang) for k, v in params.items()}


def _in(value: object, lang: str) -> object:
    if isinstance(value, (Phrase, PerLanguage)):
        return value(lang)
    render = getattr(type(value), "in_language", None)
    return render(value, lang) if render is not None else value


def both_languages(text: Text, separator: str = " / ", **params: object) -> str:
    """A text in Chinese and English at once, for what is said before (or without) knowing
    the deployment's language: a start-up warning, a login prompt, a refused file."""
    return separator.join(text(lang, **params) for lang in LANGUAGES)


def in_language(pair: tuple[str, str], lang: str) -> str:
    """One of a declared (zh, en) pair of data, such as a request kind's noun."""
    return pair[1] if lang == "en" else pair[0]


class Catalogue:
    """A feature's table of texts. Subclass it; never instantiate it."""

    @classmethod
    def texts(cls) -> Iterator[Text]:
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, Text):
                    yield value


def catalogues() -> list[type[Catalogue]]:
    """Every table defined by the modules imported so far (for the completeness test)."""
    found: list[type[Catalogue]] = []
    todo = list(Catalogue.__subclasses__())
    while todo:
        klass = todo.pop()
        found.append(klass)
        todo.extend(klass.__subclasses__())
    return sorted(found, key=lambda k: (k.__module__, k.__qualname__))


class MatterTexts(Catalogue):
    """诉求: raised with 反映, assigned, closed with a note, reopened; the digest."""

    received = Text(
        "✓ 已收到你的诉求 {ref}，已转给辅导员；办结时会告诉你。",
        "✓ Matter {ref} received and passed to your counselor; you will hear when it is closed.",
    )
    raised = Text(
        "📮 新诉求 {ref}：{student}\n{body}\n受理：受理 {ref}；指派：指派 {ref} <工号>；办结：办结 {ref} <说明>",
        "📮 New matter {ref}: {student}\n{body}\nStart: /start {ref}; assign: /assign {ref} <staff id>; close: /close {ref} <note>",
    )
    student = Text("{name}（{number}，{cls}）", "{name} ({number}, {cls})")
    assigned = Text(
        "✓ {ref} 已指派给 {name}（{number}）。", "✓ {ref} assigned to {name} ({number})."
    )
    assigned_to_you = Text(
        "📮 {by} 把诉求 {ref} 指派给你：{student}\n{body}\n办结：办结 {ref} <说明>",
        "📮 {by} assigned matter {ref} to you: {student}\n{body}\nClose: /close {ref} <note>",
    )
    started = Text("✓ 已受理 {ref}。", "✓ {ref} started.")
    in_progress = Text(
        "🔧 你的诉求 {ref} 已受理，正在处理。", "🔧 Your matter {ref} is being worked on."
    )
    closed = Text("✓ 已办结 {ref}，已告诉学生。", "✓ {ref} closed; the student was told.")
    closed_to_student = Text(
        "✅ 你的诉求 {ref} 已办结：{note}\n如果还没解决，{days} 天内可发送「重开 {ref}」。",
        "✅ Your matter {ref} is closed: {note}\nIf it is not solved, send /reopen {ref} within {days} days.",
    )
    reopened = Text("✓ 已重开 {ref}，已告诉辅导员。", "✓ {ref} reopened; your counselor was told.")
    reopened_to_staff = Text(
        "🔁 {student} 重开了诉求 {ref}：\n{body}", "🔁 {student} reopened matter {ref}:\n{body}"
    )
    need_ref = Text("请写上诉求编号，例如 {example}。", "Give the matter's id, e.g. {example}.")
    need_text = Text("请写上你要反映的内容。", "Please say what the matter is.")
    need_note_text = Text("说明不能为空。", "The note cannot be empty.")
    need_staff = Text("请写上被指派人的工号。", "Give the staff id of the person to assign it to.")
    need_note = Text(
        "请写上 {ref} 的办结说明（学生会看到），直接回复即可：",
        "Reply with the closing note for {ref} (the student will see it):",
    )
    no_staff = Text("花名册里没有工号 {number} 的老师。", "No staff member {number} on the roster.")
    list_header = Text("待办诉求 {count} 件：", "Open matters: {count}")
    list_line = Text("{ref} {state} {cls} {name}：{body}", "{ref} {state} {cls} {name}: {body}")
    list_empty = Text("没有待办的诉求。", "No open matters.")
    mine_header = Text("诉求：", "Matters:")
    mine_line = Text("  {ref} {state}", "  {ref} {state}")
    digest = Text(
        "📮 今日诉求（{day}）：新增 {new}，未办结 {open}，超时 {overdue}{refs}",
        "📮 Matters today ({day}): new {new}, open {open}, overdue {overdue}{refs}",
    )
    digest_zero = Text(
        "📮 今日无新诉求（{day}）：未办结 {open}，超时 {overdue}{refs}",
        "📮 No new matters today ({day}): open {open}, overdue {overdue}{refs}",
    )
    overdue_refs = Text("：{refs}", ": {refs}")
    escalated = Text(
        "⏰ 诉求 {ref} 超过 {hours} 小时未办结，请学工办跟进（重点问题不隔日）：{student}\n{body}\n受理：受理 {ref}；办结：办结 {ref} <说明>",
        "⏰ Matter {ref} has been open over {hours} hours; please follow it up: {student}\n{body}\nStart: /start {ref}; close: /close {ref} <note>",
    )
    week_rate = Text(
        "本周诉求办结率 {rate}%（{closed}/{raised}）",
        "Matters closed this week: {rate}% ({closed}/{raised})",
    )
    week_none = Text("本周无新诉求", "No matters raised this week")


class NoticeTexts(Catalogue):
    """通知: notices staff send, and the students' 收到."""

    verb = Text("确认", "confirm")
    posted = Text(
        "📢 通知 {ref}（{sender}）：{body}\n请在 {deadline} 前回复「收到」确认（或：收到 {ref}）。",
        "📢 Notice {ref} (from {sender}): {body}\nPlease confirm by {deadline}: send /ack (or /ack {ref}).",
    )
    button = Text("收到", "Got it")
    sent = Text(
        "✓ 已发出通知 {ref}：{groups} 个班级群，{students} 位同学，截止 {deadline}。"
        "截止前 {before} 和截止时会提醒未确认的同学，名单私发给你。",
        "✓ Notice {ref} sent: {groups} class groups, {students} students, due {deadline}. "
        "Those who have not confirmed are reminded {before} before and at the deadline; "
        "you get the list privately.",
    )
    sent_due_only = Text(
        "✓ 已发出通知 {ref}：{groups} 个班级群，{students} 位同学，截止 {deadline}。"
        "截止时会提醒未确认的同学，名单私发给你。",
        "✓ Notice {ref} sent: {groups} class groups, {students} students, due {deadline}. "
        "Those who have not confirmed are reminded at the deadline; you get the list privately.",
    )
    confirmed = Text("✓ {name} 已确认通知 {refs}", "✓ {name} confirmed notice {refs}")
    confirmed_group = Text("✓ {name} 已确认 {done}/{of}", "✓ {name} confirmed {done}/{of}")
    ack_verb = Text("已确认", "confirmed")
    already = Text("你已确认过通知 {refs}。", "You have already confirmed notice {refs}.")
    nothing_open = Text(
        "你目前没有需要确认的通知。", "You have no notice waiting for your confirmation."
    )
    not_yours = Text("通知 {ref} 不是发给你的。", "Notice {ref} was not sent to you.")
    staff_ack = Text(
        "「收到」是同学确认通知用的；发送「进度 N编号」查看确认情况。",
        "/ack is for students confirming a notice; send /progress with the notice id to see who has.",
    )
    unknown_scope = Text(
        "找不到班级或学院「{scope}」。范围写班级代码、学院名称，或「全部」。",
        "No class or college called “{scope}”. The scope is a class code, a college name, or all.",
    )
    no_body = Text("通知正文不能为空。", "The notice needs a text.")
    body_too_long = Text(
        "通知正文太长：最多 {limit} 个字。", "The notice is too long: at most {limit} characters."
    )
    bad_deadline = Text(
        "截止时间没看懂：「截止」后写日期和时间，如：截止 {example} 18:00。",
        "Could not read the deadline: after “deadline” write a date and a time, e.g. deadline {example} 18:00.",
    )
    past_deadline = Text(
        "截止时间 {deadline} 已经过去了。", "The deadline {deadline} is already past."
    )
    no_classes = Text("这个范围里没有班级。", "There are no classes in that scope.")
    mine = Text("待确认的通知：{refs}（回复「收到」）", "Notices to confirm: {refs} (send /ack)")
    name_it = Text("请写通知编号，如：收到 N3", "Name the notice by its id, e.g. /ack N3")


class CollectTexts(Catalogue):
    """信息收集: collections staff start from a template, and the students' 填."""

    verb = Text("填写", "answer")
    noun = Text("信息收集", "Collection")
    posted = Text(
        "📝 信息收集 {ref}：{title}（{sender}）{description}\n"
        "请在 {deadline} 前私聊我填写，按顺序回答：{order}\n"
        "一行写完：填 {ref} {example}\n或只发「填 {ref}」，我逐题问你。",
        "📝 Collection {ref}: {title} (from {sender}){description}\n"
        "Answer me privately by {deadline}, in this order: {order}\n"
        "In one line: /fill {ref} {example}\nOr send just /fill {ref} and I ask question by question.",
    )
    started = Text(
        "✓ 已发起信息收集 {ref}「{title}」：{groups} 个班级群，{students} 位同学，截止 {deadline}。"
        "截止前和截止时会提醒未填写的同学，名单私发给你。发送「进度 {ref}」查看进度，「导出 {ref}」导出表格。",
        "✓ Collection {ref} “{title}” started: {groups} class groups, {students} students, due "
        "{deadline}. Those who have not answered are reminded before and at the deadline; you get "
        "the list privately. Send /progress {ref} to follow it, /export {ref} for the sheet.",
    )
    no_template = Text(
        "没有叫「{name}」的模板。可用的模板：{names}。",
        "There is no template called “{name}”. Templates: {names}.",
    )
    no_templates = Text("（没有模板）", "(none)")
    name_template = Text(
        "请写模板名，可用的模板：{names}。", "Name a template; the templates are: {names}."
    )
    unknown_scope = Text(
        "「{token}」不是截止时间，也不是班级、学院或「全部」。",
        "“{token}” is neither a deadline nor a class, a college or all.",
    )
    bad_time = Text(
        "时间「{token}」看不懂，例：18:00。", "Cannot read the time “{token}”; e.g. 18:00."
    )
    past_deadline = Text(
        "截止时间 {deadline} 已经过去了。", "The deadline {deadline} is already past."
    )
    no_classes = Text("这个范围里没有班级。", "There are no classes in that scope.")
    privately = Text(
        "请私聊我填写，群里不会保存你发的内容。",
        "Please answer me privately; nothing you sent here was stored.",
    )
    nothing_open = Text("你目前没有需要填写的信息收集。", "You have no collection to answer.")
    open_list = Text(
        "需要填写的信息收集：\n{lines}\n发送「填 编号」逐题回答，或「填 编号 答案…」一行写完。",
        "Collections for you:\n{lines}\nSend /fill <id> to answer question by question, or /fill <id> <answers…> in one line.",
    )
    open_line = Text(
        "{ref} {title}（截止 {deadline}）{state}", "{ref} {title} (due {deadline}){state}"
    )
    answered_mark = Text(" ✓ 已填，可重新填写", " ✓ answered; you may answer again")
    not_for_you = Text("信息收集 {ref} 不是发给你的。", "Collection {ref} was not sent to you.")
    closed = Text("信息收集 {ref} 已截止，不能再填写。", "Collection {ref} is closed.")
    name_it = Text("请写信息收集的编号，如：填 C3", "Name the collection by its id, e.g. /fill C3")
    question = Text(
        "{ref} 第 {n}/{total} 题：{question}{hint}\n（发送「取消」结束）",
        "{ref} question {n}/{total}: {question}{hint}\n(send /cancel to stop)",
    )
    options_hint = Text("\n选项：{options}", "\nOptions: {options}")
    multi_hint = Text("（可多选，用、分隔）", " (several allowed, separated by commas)")
    example_hint = Text("\n例：{example}", "\ne.g. {example}")
    optional_hint = Text("（可不填，发 - 跳过）", " (optional: send - to skip)")
    saved = Text(
        "✓ 已提交 {ref}「{title}」{updated}\n{lines}\n如有不对，重新填写即可，以最后一次为准。",
        "✓ Answered {ref} “{title}”{updated}\n{lines}\nIf anything is wrong, answer again: the last one counts.",
    )
    updated = Text("（已更新之前的回答）", " (replaces your earlier answer)")
    answer_line = Text("{question}：{value}", "{question}: {value}")
    name_campaign = Text(
        "请写编号，如：{command} C3", "Name the collection or notice by its id, e.g. {command} C3"
    )
    not_a_campaign = Text(
        "「{token}」不是信息收集或通知的编号。", "“{token}” is not a collection or notice id."
    )
    progress_names = Text("    未{verb}：{names}", "    not yet ({verb}): {names}")
    progress_due = Text("截止 {deadline}{closed}", "due {deadline}{closed}")
    closed_mark = Text("（已截止）", " (closed)")
    exported = Text(
        "📎 {title}（{ref}）{label}：{rows} 人", "📎 {title} ({ref}) {label}: {rows} students"
    )
    sent_privately = Text("已私信发给你。", "Sent to you privately.")
    mine = Text(
        "待填写的信息收集：{refs}（发送「填 编号」）",
        "Collections to answer: {refs} (send /fill <id>)",
    )
    cli_created = Text(
        "已发起信息收集 {ref}「{title}」：{groups} 个班级群，{students} 位同学，截止 {deadline}。",
        "Collection {ref} “{title}” started: {groups} class groups, {students} students, due {deadline}.",
    )
    cli_template = Text("已写出空白表单：{path}", "Blank form sheet written: {path}")
    cli_bad_scope = Text(
        "范围「{scope}」不是班级代码、学院名称或「全部」。",
        "The scope “{scope}” is not a class code, a college name or all.",
    )
    cli_bad_deadline = Text(
        "截止时间「{deadline}」看不懂，例：2027-01-10 18:00 或 1-10。",
        "Cannot read the deadline “{deadline}”; e.g. 2027-01-10 18:00 or 1-10.",
    )
