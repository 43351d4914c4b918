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
_MOVED = {
    "CollectTexts": "handlers.collect_texts",
    "MatterTexts": "storage.matters",
    "NoticeTexts": "handlers.notice_texts",
}


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
