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
from typing import Any

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
    """Parameters with every phrase among them rendered in `lang`."""
    return {k: v(lang) if isinstance(v, (Phrase, PerLanguage)) else v for k, v in params.items()}


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


# Tables that moved next to their feature, still found here by the modules that import them
# from this one (loaded on first use, so this module keeps importing nothing at start).
_MOVED = {"MatterTexts": "storage.matters"}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


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
    open_line = Text("· {title}（{ref}），截止 {deadline}", "· {title} ({ref}), due {deadline}")
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


class DailyTexts(Catalogue):
    """The daily health check-in's jobs: the 07:00 prompt and the 11:00 deadline lists."""

    prompt = Text(
        "🌅 {day} 健康打卡开始了，请在 {deadline} 前完成。\n"
        "回复：打卡 体温（有症状请写上，如：打卡 体温 咳嗽；在外地请加 @城市）\n"
        "也可以用 /checkin。想私下提交的同学可以私聊我，效果一样。",
        "🌅 The health check-in for {day} is open: please check in before {deadline}.\n"
        "Reply: /checkin <temperature> (add any symptoms, e.g. /checkin 37.6 cough; away from "
        "campus, add @city)\nYou may also check in privately with me; it counts the same.",
    )
    closed = Text("{day} 打卡已截止", "The check-in for {day} is closed")
    group_missing = Text(
        "⏰ {head}，还有 {count} 位同学未打卡，请尽快补打卡（打卡 体温）：",
        "⏰ {head}: {count} have not checked in yet, please do it now (/checkin <temperature>):",
    )
    group_done = Text(
        "✓ {head}，全班都已打卡，谢谢大家！",
        "✓ {head}: everyone in the class checked in, thank you!",
    )
    unbound = Text("未绑定的同学：{names}", "Not bound yet: {names}")
    missing_head = Text("⏰ {day} 未打卡名单", "⏰ Not checked in on {day}")
    missing_class = Text("{code}：未打卡 {count} 人", "{code}: {count} not checked in")
    on_leave = Text("  请假中 {count} 人：{names}", "  On leave, {count}: {names}")
    open_head = Text("🌅 今天进行中的事项，请按时完成：", "🌅 Open today, please complete on time:")


class FormTexts(Catalogue):
    """信息收集 answers: refusals name the question, what was wrong, and a right answer."""

    bad_answer = Text(
        "「{question}」{problem}例：{example}",
        "“{question}”: {problem} For example: {example}",
    )
    required = Text("必须填写。", "an answer is required.")
    not_a_number = Text(
        "要填一个数字{unit}，「{answer}」不是。", "needs a number{unit}; {answer!r} is not one."
    )
    out_of_range = Text("应在 {low}–{high}{unit} 之间。", "must be between {low} and {high}{unit}.")
    too_small = Text("不能小于 {low}{unit}。", "must be at least {low}{unit}.")
    too_large = Text("不能大于 {high}{unit}。", "must be at most {high}{unit}.")
    not_an_option = Text(
        "没有「{answer}」这个选项，请写选项或它的序号：{options}。",
        "{answer!r} is not an option; write an option or its number: {options}.",
    )
    not_yes_no = Text(
        "请回答「是」或「否」，「{answer}」看不懂。", "answer yes or no; {answer!r} is neither."
    )
    not_a_date = Text(
        "日期「{answer}」看不懂，可以写 2027-01-15、1-15、1月15日、明天、周五。",
        "cannot read the date {answer!r}; write 2027-01-15, 1-15, 1/15, today or tomorrow.",
    )
    no_such_day = Text("没有「{answer}」这一天。", "there is no such day as {answer!r}.")
    too_long = Text(
        "太长了：最多 {limit} 个字，现在 {length} 个。",
        "is too long: at most {limit} characters, not {length}.",
    )
    one_line = Text("要写在一行里。", "must be on one line.")
    wrong_count = Text(
        "需要按顺序回答 {count} 项，用空格分开：{order}；收到的是 {got} 项。例：{example}",
        "Answer the {count} questions in this order, separated by spaces: {order}; got {got}. For example: {example}",
    )
    optional_mark = Text("（可不填，写 - 跳过）", " (optional: - skips it)")
    skip_hint = Text("写 - 跳过", "- skips it")
    yes = Text("是", "yes")
    no = Text("否", "no")
    text_example = Text("（文字）", "(text)")
    skipped = Text("（未填）", "(none)")


class TemplateTexts(Catalogue):
    """A template file's problems, each naming the row and column (or the key)."""

    where_file = Text("{file}：{problem}", "{file}: {problem}")
    where_row = Text(
        "{file} 第 {row} 行「{column}」：{problem}", "{file} row {row}, column {column}: {problem}"
    )
    where_key = Text("{file} 的「{column}」：{problem}", "{file}, {column}: {problem}")
    not_found = Text("找不到这个文件，请检查路径。", "no such file; check the path.")
    bad_suffix = Text("模板要是 .toml 或 .xlsx 文件。", "a template is a .toml or an .xlsx file.")
    not_xlsx = Text(
        "打不开这个文件：它不是 Excel 的 .xlsx 文件。如果是 .xls，请在 Excel 里「另存为」.xlsx。",
        "cannot open it: it is not an Excel .xlsx file. Save an .xls as .xlsx first.",
    )
    bad_toml = Text("不是有效的 TOML：{reason}", "not valid TOML: {reason}")
    no_header = Text(
        "前 10 行里找不到表头：需要一行写着「题目」「类型」（请用 classbot collect template 生成的表）。",
        "no header row in the first 10 rows: one must name the question and type columns (use the sheet classbot collect template writes).",
    )
    no_fields = Text("一个问题也没有。", "has no questions.")
    missing = Text("缺少{what}。", "{what} is missing.")
    unknown_type = Text(
        "未知的类型「{value}」，可以写：{allowed}。",
        "unknown type {value!r}; write one of: {allowed}.",
    )
    needs_options = Text(
        "单选和多选要写「选项」，用、分隔（例：火车、飞机、汽车）。",
        "a choice needs its options, separated by commas (e.g. train, plane, bus).",
    )
    duplicate_option = Text("选项「{value}」写了两次。", "option {value!r} is listed twice.")
    bad_option = Text(
        "选项「{value}」不能是纯数字，也不能含空格：回答时数字表示第几项。",
        "option {value!r} cannot be a bare number or contain a space: a number picks the n-th option.",
    )
    not_yes_no = Text("要写「是」或「否」，不是「{value}」。", "write yes or no, not {value!r}.")
    not_a_number = Text("要写一个数字，不是「{value}」。", "must be a number, not {value!r}.")
    min_above_max = Text("最小值大于最大值。", "the minimum is above the maximum.")
    duplicate_question = Text("题目「{value}」写了两次。", "question {value!r} appears twice.")
    duplicate_key = Text("key「{value}」写了两次。", "key {value!r} appears twice.")
    bad_key = Text(
        "key「{value}」只能用英文字母、数字和下划线。",
        "key {value!r} may contain only letters, digits and underscores.",
    )
    unknown_period = Text(
        "周期只能是 once（一次），不是「{value}」。", "the period can only be once, not {value!r}."
    )
    bad_value = Text("「{value}」不对：{reason}", "{value!r} is wrong: {reason}")
    longtext_last = Text(
        "长文本只能放在最后一题（一行回答时它取走剩下的全部文字）。",
        "a long text can only be the last question (in a one-line answer it takes the rest).",
    )
    title_label = Text("标题", "title")
    question_label = Text("题目", "question")
    type_label = Text("类型", "type")


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


class CareTexts(Catalogue):
    """心理预警, 心理委员 reports and the separate consents: private only, content to the
    designated readers alone."""

    alert = Text(
        "🆘 心理预警 #{id}：{student}\n情况：{body}\n报告人：{reporter}\n请尽快私下跟进。本消息仅发给该生的辅导员和学院心理健康联络人，请勿转发。",
        "🆘 Mental-health alert #{id}: {student}\nWhat was seen: {body}\nReported by: {reporter}\nPlease follow up privately. Sent only to the student's counselors and the college's mental-health contacts; do not forward.",
    )
    alert_received = Text(
        "✓ 已收到，已私下转给该同学的辅导员和学院心理健康联络人（{count} 位）。谢谢你的关心，内容不会出现在任何群里，也不会告诉这位同学。",
        "✓ Received and passed privately to the student's counselors and the college's mental-health contacts ({count}). Thank you; it never appears in a group and the student is not told.",
    )
    alert_unrouted = Text(
        "⚠️ 一条心理预警（#{id}）找不到可以接收的辅导员或心理健康联络人。内容不在此转发，请尽快为{cls}登记辅导员或在配置中登记学院心理健康联络人。",
        "⚠️ A mental-health alert (#{id}) found no counselor or mental-health contact to receive it. Its content is not forwarded here; please assign a counselor to {cls} or configure the college's mental-health contact.",
    )
    alert_undelivered = Text(
        "⚠️ 一条发给 {name}（{number}）的心理预警未能送达：{reason}。内容不在此转发，请尽快联系本人或学院心理健康联络人。",
        "⚠️ A mental-health alert for {name} ({number}) could not be delivered: {reason}. Its content is not forwarded here; please reach them or the college's mental-health contact.",
    )
    alert_not_kept = Text(
        "（本校按同意处理关怀记录，这位同学未同意，预警已送达但不保存。）",
        "(This school keeps care records by consent and this student has not agreed: the alert was delivered but is not kept.)",
    )
    need_alert = Text(
        "请写上同学的学号或姓名，以及情况。", "Give the student's id or name and what you saw."
    )
    alerts_header = Text(
        "心理预警（最近 {count} 条，每次查看都有记录）：",
        "Mental-health alerts (latest {count}; every read is logged):",
    )
    alerts_line = Text(
        "#{id} {when} {student}：{body}（报告人 {reporter}）",
        "#{id} {when} {student}: {body} (reported by {reporter})",
    )
    alerts_empty = Text("没有你可以查看的心理预警。", "No mental-health alerts for you to read.")
    alerts_counts = Text(
        "心理预警数量（学工部只看数量）：{counts}",
        "Mental-health alerts (counts only for the school office): {counts}",
    )
    alerts_none = Text("无", "none")
    report_saved = Text(
        "✓ 已收到{period}心理周报：{what}。",
        "✓ Mental-health report for {period} received: {what}.",
    )
    report_replaced = Text(
        "✓ 已更新{period}心理周报：{what}。",
        "✓ Mental-health report for {period} updated: {what}.",
    )
    report_none = Text("本周无异常", "nothing unusual")
    report_abnormal = Text(
        "有异常，已私下转给辅导员和心理健康联络人",
        "something to report, passed privately to the counselors and mental-health contacts",
    )
    report_to_readers = Text(
        "📝 {cls} 心理委员 {reporter} 的{period}报告：有异常\n情况：{body}",
        "📝 {cls} mental-health rep {reporter}, report for {period}: something to report\n{body}",
    )
    need_report = Text(
        "请写「无异常」，或写上情况。",
        "Send /psych none (nothing unusual), or describe what you saw.",
    )
    report_reminder = Text(
        "📝 请提交{period}心理周报：无异常请发送「心理周报 无异常」，有情况请发送「心理周报 <情况>」（只有辅导员和心理健康联络人能看到）。",
        "📝 Please send the mental-health report for {period}: /psych none, or /psych <what you saw> (read only by the counselors and mental-health contacts).",
    )
    consent_given = Text(
        "✓ 已记录你的单独同意：{purpose}。随时可发送「撤回同意 {word}」。",
        "✓ Your separate consent is recorded: {purpose}. Send /withdraw {word} at any time.",
    )
    consent_already = Text("你已经同意过：{purpose}。", "You have already agreed: {purpose}.")
    consent_withdrawn = Text("✓ 已撤回：{purpose}。", "✓ Withdrawn: {purpose}.")
    consent_missing = Text("你没有这项同意，无需撤回。", "You have no such consent on record.")
    purpose_care = Text(
        "学校记录你的关怀信息（谈心、预警、帮扶）",
        "the school keeps care records about you (talks, alerts, support)",
    )
    purpose_parents = Text(
        "学校可以和你的家长沟通你的情况", "the school may share your situation with your parents"
    )
    period_week = Text("本周", "this week")
    period_month = Text("本月", "this month")
    referred = Text(
        "✓ 心理预警 #{id} 已转介给 {name}（{number}），对方现在可以查看。",
        "✓ Alert #{id} referred to {name} ({number}), who may now read it.",
    )
    referred_to_you = Text(
        "🆘 {by} 把心理预警 #{id} 转介给你跟进：{student}\n情况：{body}\n请勿转发。",
        "🆘 {by} referred mental-health alert #{id} to you: {student}\n{body}\nDo not forward.",
    )
    need_referral = Text(
        "请写上预警编号和老师工号，例如 #1 T005。",
        "Give the alert number and a staff id, e.g. #1 T005.",
    )
