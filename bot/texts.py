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
from collections.abc import Iterator

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
        return (self.en if lang == "en" else self.zh).format(**params)

    def raw(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh

    def parameters(self, lang: str) -> frozenset[str]:
        """The names the text of one language formats in."""
        names = set()
        for _, field, _, _ in string.Formatter().parse(self.raw(lang)):
            if field is not None and field != "":
                names.add(field.split(".")[0].split("[")[0])
        return frozenset(names)

    def __repr__(self) -> str:
        return f"Text({self.name or self.zh!r})"


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


class CampaignTexts(Catalogue):
    """The campaign engine's reminders and roll-ups, for every kind."""

    group_reminder = Text(
        "⏰ {title}（{ref}）将于 {deadline} 截止，还有 {count} 位同学未{verb}，请尽快{verb}：",
        "⏰ {title} ({ref}) is due {deadline}; {count} still to {verb}, please do it now:",
    )
    group_due = Text(
        "⏰ {title}（{ref}）已截止，还有 {count} 位同学未{verb}：",
        "⏰ {title} ({ref}) is past its deadline; {count} did not {verb}:",
    )
    group_done = Text(
        "✓ {title}（{ref}）全班都已{verb}，谢谢大家！",
        "✓ {title} ({ref}): everyone in the class did {verb}, thank you!",
    )
    unbound = Text("未绑定的同学：{names}", "Not bound yet: {names}")
    staff_head = Text(
        "📋 {title}（{ref}）{when}：{done}/{of} 已{verb}",
        "📋 {title} ({ref}) {when}: {done}/{of} did {verb}",
    )
    before_deadline = Text("截止 {deadline}", "due {deadline}")
    at_deadline = Text("已截止", "closed")
    staff_class = Text(
        "{code}：{done}/{of}，未{verb} {count} 人{names}",
        "{code}: {done}/{of}, {count} did not {verb}{names}",
    )
    staff_class_done = Text("{code}：{done}/{of} ✓", "{code}: {done}/{of} ✓")
    names = Text("：{names}", ": {names}")
    progress_head = Text(
        "📊 {title}（{ref}）进度：{done}/{of}（{rate:.0%}）",
        "📊 {title} ({ref}) progress: {done}/{of} ({rate:.0%})",
    )
    progress_college = Text("{name}：{done}/{of}（{rate:.0%}）", "{name}: {done}/{of} ({rate:.0%})")
    progress_class = Text(
        "  {code}：{done}/{of}（{rate:.0%}）", "  {code}: {done}/{of} ({rate:.0%})"
    )
    sheet_class = Text("班级", "Class")
    sheet_college = Text("学院", "College")
    sheet_number = Text("学号", "Student no.")
    sheet_name = Text("姓名", "Name")
    sheet_status = Text("状态", "Status")
    sheet_time = Text("提交时间", "Answered at")
    sheet_done = Text("已提交", "Answered")
    sheet_missing = Text("未提交", "Not answered")
    sheet_hidden = Text("（敏感，仅限有权限者）", "(sensitive: restricted)")


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
