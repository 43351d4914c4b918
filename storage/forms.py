"""信息收集 forms: the typed questions of a campaign, how each answer is read, and templates.

A `Form` is the response schema of a campaign: typed fields, each required or optional and
sensitive or not. `parse_value` reads one answer as people type it and refuses it with a
reply that names the question, says what was wrong and shows a right answer; `parse_line`
reads a whole one-line answer (`2027-01-15 湖北恩施 火车 2027-02-20`).

What an answer may be, per type:
- number: `36.5`, `36,5`, full-width digits, with the field's unit after it (`36.5℃`, `3人`);
- choice: the option's text, or its number 1..n;
- multi: options (text or number) separated by 、 , ， ; ； / (and spaces, when answered
  question by question: in a one-line answer a space ends the answer);
- yesno: 是/对/有/要/yes/y, 否/不是/不/无/没有/no/n;
- date: 2027-01-15, 1-15, 1/15, 1月15日, 今天, 明天, 后天, 周五, 下周一 (bot.dates);
- text: one line of at most `max_length` characters (50 by default);
- longtext: at most `max_length` characters (500 by default).
An optional question is skipped with `-` or 跳过.

A template is a form with a title, a period (once) and reminder settings, written as TOML
or as an .xlsx form sheet with the columns 题目 / 类型 / 选项 / 必填 / 敏感. A malformed
template is reported row by row, and nothing is made of it.
"""

from __future__ import annotations

import enum
import math
import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.datavalidation import DataValidation

from bot.dates import try_parse_date
from bot.texts import Catalogue, Text
from storage.errors import DomainError


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


class TemplateFileTexts(Catalogue):
    """What `classbot collect template` writes for people to read: the notes and hints.
    The sheet names, column headers, type names and example answers are what the reader
    reads back, so they are the file's vocabulary (the constants below), not texts."""

    notes_sheet = Text("说明", "Notes")
    title_hint = Text("（收集的标题，例：寒假离校返乡登记）", "(the collection's title)")
    note_rows = Text(
        "每行一道题，按顺序提问。「{example}」列写了「{yes}」的行是示例，读取时会跳过。",
        "One question a row, asked in order. A row marked “{yes}” in the “{example}” column "
        "is an example and is skipped.",
    )
    note_types = Text(
        "类型：数字、单选、多选、是否、日期、短文本、长文本（也可写 number、choice、multi、yesno、date、text、longtext）。",
        "Type: number, choice, multi, yesno, date, text or longtext (or their Chinese names, "
        "as in the drop-down list).",
    )
    note_options = Text(
        "选项：单选和多选必填，用、分隔（例：火车、飞机、汽车）；回答时写选项或它的序号。",
        "Options: needed by choice and multi, separated by 、 or commas; an answer gives the "
        "option or its number.",
    )
    note_required = Text(
        "必填：是（默认）或否；选填的题学生可写 - 跳过。",
        "Required: yes (the default) or no; a student skips an optional question with -.",
    )
    note_sensitive = Text(
        "敏感：是 或 否（默认）。敏感的回答不会出现在群里，导出时只给有权限的老师。",
        "Sensitive: yes or no (the default). A sensitive answer never shows in a group, and "
        "only staff allowed to read it get it in an export.",
    )
    note_numbers = Text(
        "数字题可写单位、最小、最大（例：℃、35、42）。长文本只能放在最后一题。",
        "A number question may give a unit, a minimum and a maximum (e.g. ℃, 35, 42). A long "
        "text can only be the last question.",
    )
    note_settings = Text(
        "设置表：标题（不写则用文件名）、周期（once）、截止天数（默认截止时间为发起后几天）、"
        "提醒（截止前几小时，用、分隔，0 表示截止时）、私聊（是：同时私聊发给每个学生）。",
        "The settings sheet: the title (else the file's name), the period (once), the days to "
        "the default deadline, reminders (hours before the deadline, 0 is at the deadline) "
        "and private (yes: also sent to each student privately).",
    )


# The shipped templates (storage/templates/*.toml), packaged as package data.
TEMPLATES_DIR = Path(__file__).parent / "templates"
TEMPLATE_SUFFIXES = (".toml", ".xlsx")

TEXT_LIMIT = 50
LONGTEXT_LIMIT = 500
SKIP_WORDS = frozenset({"-", "跳过", "skip"})

_SPACES = re.compile(r"[\s\u3000\u00a0\u2000-\u200a\u202f\u205f]+")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:[.,]\d+)?|[.,]\d+)")
_MULTI_SEPARATORS = re.compile(r"[、,;/]+")
_OPTION_SEPARATORS = re.compile(r"[、,;/\n]+")
# Units written in other ways than the field's own (after NFKC, ℃ is °C).
_UNIT_ALIASES: dict[str, tuple[str, ...]] = {
    "°c": ("度", "°", "c", "摄氏度"),
    "元": ("块", "rmb", "yuan"),
}
_YES = frozenset({"是", "是的", "对", "有", "要", "会", "留校", "y", "yes", "true", "1"})
_NO = frozenset(
    {"否", "不是", "不", "不对", "无", "没有", "没", "不要", "不会", "n", "no", "false", "0"}
)


class FieldType(enum.StrEnum):
    NUMBER = "number"
    CHOICE = "choice"
    MULTI = "multi"
    YESNO = "yesno"
    DATE = "date"
    TEXT = "text"
    LONGTEXT = "longtext"


# 类型 as a template writes it, in Chinese or English.
TYPE_NAMES: dict[str, FieldType] = {
    "数字": FieldType.NUMBER,
    "数值": FieldType.NUMBER,
    "单选": FieldType.CHOICE,
    "多选": FieldType.MULTI,
    "是否": FieldType.YESNO,
    "日期": FieldType.DATE,
    "短文本": FieldType.TEXT,
    "文本": FieldType.TEXT,
    "长文本": FieldType.LONGTEXT,
    **{t.value: t for t in FieldType},
    "single": FieldType.CHOICE,
    "multiple": FieldType.MULTI,
    "yes/no": FieldType.YESNO,
}
TYPE_LABELS: dict[FieldType, str] = {
    FieldType.NUMBER: "数字",
    FieldType.CHOICE: "单选",
    FieldType.MULTI: "多选",
    FieldType.YESNO: "是否",
    FieldType.DATE: "日期",
    FieldType.TEXT: "短文本",
    FieldType.LONGTEXT: "长文本",
}


@dataclass(frozen=True)
class Field:
    """One question of a form."""

    key: str
    label: str
    label_en: str
    type: FieldType
    required: bool = True
    sensitive: bool = False
    options: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    # A right answer shown in refusals and prompts; derived from the type when empty.
    example: str = ""
    max_length: int | None = None

    def question(self, lang: str) -> str:
        return self.label_en if lang == "en" and self.label_en else self.label

    @property
    def limit(self) -> int:
        if self.max_length is not None:
            return self.max_length
        return LONGTEXT_LIMIT if self.type is FieldType.LONGTEXT else TEXT_LIMIT

    def sample(self, lang: str, today: date) -> str:
        """A right answer to this question."""
        if self.example:
            return self.example
        match self.type:
            case FieldType.NUMBER:
                low = self.minimum if self.minimum is not None else 0
                high = self.maximum if self.maximum is not None else low + 1
                return f"{format_number((low + high) / 2 if high > low else low)}{self.unit}"
            case FieldType.CHOICE:
                return self.options[0] if self.options else "1"
            case FieldType.MULTI:
                return "、".join(self.options[:2]) if self.options else "1"
            case FieldType.YESNO:
                return FormTexts.yes(lang)
            case FieldType.DATE:
                return f"{today + timedelta(days=3):%Y-%m-%d}"
            case _:
                return FormTexts.text_example(lang)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "label_en": self.label_en,
            "type": self.type.value,
            "required": self.required,
            "sensitive": self.sensitive,
        }
        if self.options:
            out["options"] = list(self.options)
        for name in ("minimum", "maximum", "max_length"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for name in ("unit", "example"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Field:
        return cls(
            key=str(data["key"]),
            label=str(data.get("label") or data["key"]),
            label_en=str(data.get("label_en") or data.get("label") or data["key"]),
            type=FieldType(data["type"]),
            required=bool(data.get("required", True)),
            sensitive=bool(data.get("sensitive", False)),
            options=tuple(str(o) for o in data.get("options", ())),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            unit=str(data.get("unit", "")),
            example=str(data.get("example", "")),
            max_length=data.get("max_length"),
        )


@dataclass(frozen=True)
class Form:
    """A campaign's response schema: its questions, in the order they are asked. A notice
    has an empty form: its response is the confirmation."""

    fields: tuple[Field, ...] = ()

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.fields]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> Form:
        return cls(tuple(Field.from_json(d) for d in data))

    @property
    def sensitive_keys(self) -> frozenset[str]:
        return frozenset(f.key for f in self.fields if f.sensitive)

    def field(self, key: str) -> Field:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    def order(self, lang: str) -> str:
        """The questions in order, the optional ones in brackets: 离校日期 目的地 [备注]."""
        return ("、" if lang != "en" else ", ").join(
            f.question(lang) if f.required else f"[{f.question(lang)}]" for f in self.fields
        )

    def example_line(self, lang: str, today: date) -> str:
        return " ".join(f.sample(lang, today) for f in self.fields if f.required)


class BadAnswer(DomainError):
    """An answer that does not fit its question: names the question, what was wrong, and a
    right answer."""

    def __init__(self, fld: Field, problem: Text, today: date, **params: Any) -> None:
        super().__init__(key=fld.key, **params)
        self.field = fld
        self.problem = problem
        self.today = today
        self.problem_params = params

    def render(self, lang: str) -> str:
        return FormTexts.bad_answer(
            lang,
            question=self.field.question(lang),
            problem=self.problem(lang, **self.problem_params),
            example=self.field.sample(lang, self.today),
        )


class WrongAnswerCount(DomainError):
    """A one-line answer with more or fewer answers than the form has questions."""

    def __init__(self, form: Form, got: int, today: date, prefix: str = "") -> None:
        super().__init__(got=got)
        self.form = form
        self.got = got
        self.today = today
        self.prefix = prefix

    def render(self, lang: str) -> str:
        required = sum(1 for f in self.form.fields if f.required)
        total = len(self.form.fields)
        count = str(total) if required == total else f"{required}–{total}"
        return FormTexts.wrong_count(
            lang,
            count=count,
            order=self.form.order(lang),
            got=self.got,
            example=f"{self.prefix}{self.form.example_line(lang, self.today)}",
        )


# -- answers --------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def format_number(value: float) -> str:
    """36.5, 3 (not 3.0)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def format_value(fld: Field, value: Any, lang: str) -> str:
    """An answer as a reply or a sheet shows it."""
    if value is None or value == "" or value == []:
        return FormTexts.skipped(lang)
    match fld.type:
        case FieldType.NUMBER:
            return f"{format_number(float(value))}{fld.unit}"
        case FieldType.MULTI:
            return "、".join(str(v) for v in value)
        case FieldType.YESNO:
            return FormTexts.yes(lang) if value else FormTexts.no(lang)
        case _:
            return str(value)


def is_skip(text: str) -> bool:
    return _norm(text).lower() in SKIP_WORDS


def parse_value(fld: Field, text: str, today: date) -> Any:
    """The answer to one question, as stored (JSON): a number, an option, a list of
    options, a bool, an ISO date, or text; None for a skipped optional question."""
    raw = text.strip(" \u3000\t\r\n")
    if not raw or is_skip(raw):
        if fld.required:
            raise BadAnswer(fld, FormTexts.required, today)
        return None
    match fld.type:
        case FieldType.NUMBER:
            return _number(fld, raw, today)
        case FieldType.CHOICE:
            return _choice(fld, _norm(raw), today)
        case FieldType.MULTI:
            items = [t for t in _SPACES.split(_MULTI_SEPARATORS.sub(" ", _norm(raw))) if t]
            chosen = {_choice(fld, item, today) for item in items}
            return [o for o in fld.options if o in chosen]
        case FieldType.YESNO:
            word = _norm(raw).lower().rstrip("。.!！")
            if word in _YES:
                return True
            if word in _NO:
                return False
            raise BadAnswer(fld, FormTexts.not_yes_no, today, answer=raw)
        case FieldType.DATE:
            try:
                found = try_parse_date(raw, today)
            except DomainError:
                raise BadAnswer(fld, FormTexts.no_such_day, today, answer=raw) from None
            if found is None:
                raise BadAnswer(fld, FormTexts.not_a_date, today, answer=raw)
            return found.isoformat()
        case _:
            if fld.type is FieldType.TEXT and "\n" in raw:
                raise BadAnswer(fld, FormTexts.one_line, today)
            if len(raw) > fld.limit:
                raise BadAnswer(fld, FormTexts.too_long, today, limit=fld.limit, length=len(raw))
            return raw


def _number(fld: Field, raw: str, today: date) -> int | float:
    text = _norm(raw).lower().replace(" ", "")
    unit = _norm(fld.unit).lower()
    for suffix in sorted((unit, *_UNIT_ALIASES.get(unit, ())), key=len, reverse=True):
        if suffix and text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    unit_label = fld.unit
    if not _NUMBER.fullmatch(text):
        raise BadAnswer(
            fld,
            FormTexts.not_a_number,
            today,
            answer=raw,
            unit=f"（{unit_label}）" if unit_label else "",
        )
    value = float(text.replace(",", "."))
    if not math.isfinite(value):
        raise BadAnswer(fld, FormTexts.not_a_number, today, answer=raw, unit="")
    low, high = fld.minimum, fld.maximum
    if low is not None and high is not None and not low <= value <= high:
        raise BadAnswer(
            fld,
            FormTexts.out_of_range,
            today,
            low=format_number(low),
            high=format_number(high),
            unit=unit_label,
        )
    if low is not None and value < low:
        raise BadAnswer(fld, FormTexts.too_small, today, low=format_number(low), unit=unit_label)
    if high is not None and value > high:
        raise BadAnswer(fld, FormTexts.too_large, today, high=format_number(high), unit=unit_label)
    return int(value) if value.is_integer() else value


def _choice(fld: Field, answer: str, today: date) -> str:
    folded = answer.casefold()
    for option in fld.options:
        if _norm(option).casefold() == folded:
            return option
    if answer.isdigit() and 1 <= int(answer) <= len(fld.options):
        return fld.options[int(answer) - 1]
    # A unique start of an option: 考公 for 考公务员.
    starts = [o for o in fld.options if _norm(o).casefold().startswith(folded)]
    if len(starts) == 1:
        return starts[0]
    options = " ".join(f"{n}.{o}" for n, o in enumerate(fld.options, 1))
    raise BadAnswer(fld, FormTexts.not_an_option, today, answer=answer, options=options)


def parse_answers(form: Form, answers: Iterable[str], today: date) -> dict[str, Any]:
    """Answers given one per question, in order (a conversation's, or a line's)."""
    values = list(answers)
    out: dict[str, Any] = {}
    for i, fld in enumerate(form.fields):
        out[fld.key] = parse_value(fld, values[i] if i < len(values) else "", today)
    return out


def split_line(form: Form, text: str) -> list[str] | None:
    """One answer per question, or None when the count does not fit. A long text last takes
    the rest of the line; optional questions at the end may be left out."""
    tokens = [t for t in _SPACES.split(text.strip()) if t]
    n = len(form.fields)
    required_prefix = n
    while required_prefix > 0 and not form.fields[required_prefix - 1].required:
        required_prefix -= 1
    if form.fields and form.fields[-1].type is FieldType.LONGTEXT and len(tokens) > n:
        rest = _rest(text, tokens, n - 1)
        tokens = [*tokens[: n - 1], rest]
    if not required_prefix <= len(tokens) <= n:
        return None
    return tokens


def parse_line(form: Form, text: str, today: date, *, prefix: str = "") -> dict[str, Any]:
    """A one-line answer: the answers in the form's order, separated by spaces. A wrong count
    is refused with the order expected (and `prefix`, the command, in its example)."""
    tokens = split_line(form, text)
    if tokens is None:
        got = len([t for t in _SPACES.split(text.strip()) if t])
        raise WrongAnswerCount(form, got, today, prefix)
    return parse_answers(form, tokens, today)


def _rest(text: str, tokens: list[str], start: int) -> str:
    remaining = text
    for token in tokens[:start]:
        idx = remaining.find(token)
        remaining = remaining[idx + len(token) :]
    return remaining.strip(" \u3000\t\r\n")


# -- templates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with a template file: where (row and column, or key) and what."""

    file: str
    problem: Text
    row: int = 0
    column: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, lang: str) -> str:
        problem = self.problem(lang, **self.params)
        if self.row:
            return TemplateTexts.where_row(
                lang, file=self.file, row=self.row, column=self.column, problem=problem
            )
        if self.column:
            return TemplateTexts.where_key(
                lang, file=self.file, column=self.column, problem=problem
            )
        return TemplateTexts.where_file(lang, file=self.file, problem=problem)


class TemplateInvalid(DomainError):
    """A template that cannot be used, with every problem found."""

    def __init__(self, problems: list[TemplateProblem]) -> None:
        super().__init__(count=len(problems))
        self.problems = problems

    def render(self, lang: str) -> str:
        return "\n".join(p.render(lang) for p in self.problems)


@dataclass(frozen=True)
class Template:
    """A form with what a collection started from it takes by default."""

    name: str
    title: str
    form: Form
    title_en: str = ""
    description: str = ""
    description_en: str = ""
    period: str = "once"
    # Days from the start to the default deadline.
    deadline_days: int = 3
    # Reminders, in hours before the deadline (0: at the deadline).
    remind_before_hours: tuple[float, ...] = (2.0, 0.0)
    # Also sent privately to each student, not only posted in the class group.
    private: bool = False

    def heading(self, lang: str) -> str:
        return self.title_en if lang == "en" and self.title_en else self.title


# The sheets the reader reads, by role.
SHEETS = {"form": "表单", "settings": "设置"}
FORM_SHEET = SHEETS["form"]
SETTINGS_SHEET = SHEETS["settings"]
NOTES_SHEET = TemplateFileTexts.notes_sheet.zh
COLUMNS = ("题目", "类型", "选项", "必填", "敏感")
EXTRA_COLUMNS = ("英文题目", "单位", "最小", "最大", "示例答案", "示例")
EXAMPLE_COLUMN = EXTRA_COLUMNS[-1]
_YES_CELL = frozenset({"是", "y", "yes", "true", "1", "√", "✓", "必填", "敏感"})
_NO_CELL = frozenset({"否", "n", "no", "false", "0", "", "×", "选填"})
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The words a template's cells are written with: yes and no, the one period.
FLAG_WORDS = ("是", "否")
PERIOD_WORDS = ("once", "一次")
# The column each part of a question is read from (key and length come with the question).
FIELD_COLUMNS = {
    "label": "题目",
    "type": "类型",
    "options": "选项",
    "required": "必填",
    "sensitive": "敏感",
    "label_en": "英文题目",
    "unit": "单位",
    "minimum": "最小",
    "maximum": "最大",
    "example": "示例答案",
    "key": "题目",
    "max_length": "题目",
}
# The example question of a blank template, marked in 示例 so it is never read.
EXAMPLE_ROW = (
    "交通方式",
    "单选",
    "火车、飞机、汽车、自驾、其他",
    "是",
    "否",
    "Transport",
    "",
    "",
    "",
    "火车",
    "是",
)
_SETTING_NAMES = {
    "标题": "title",
    "英文标题": "title_en",
    "说明": "description",
    "英文说明": "description_en",
    "周期": "period",
    "截止天数": "deadline_days",
    "提醒": "remind_before_hours",
    "私聊": "private",
}


def _raw(value: Any) -> str:
    """A cell of free text (a question, a title) as written, trimmed: full-width punctuation
    stays, as people wrote it."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _norm(str(value))


class _Reader:
    """Collects problems while a template's parts are read; nothing is built if any."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[TemplateProblem] = []
        # (type, row, column) of every question whose type is known, valid or not.
        self.typed: list[tuple[FieldType, int, str]] = []

    def fail(self, problem: Text, row: int = 0, column: str = "", **params: Any) -> None:
        self.problems.append(TemplateProblem(self.file, problem, row, column, params))

    def flag(self, value: Any, row: int, column: str, default: bool) -> bool:
        if isinstance(value, bool):
            return value
        text = _cell(value).lower()
        if text == "":
            return default
        if text in _YES_CELL:
            return True
        if text in _NO_CELL:
            return False
        self.fail(TemplateTexts.not_yes_no, row, column, value=_cell(value))
        return default

    def number(self, value: Any, row: int, column: str) -> float | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            self.fail(TemplateTexts.not_a_number, row, column, value=str(value))
            return None
        if isinstance(value, int | float):
            return float(value)
        text = _cell(value)
        try:
            return float(text)
        except ValueError:
            self.fail(TemplateTexts.not_a_number, row, column, value=text)
            return None

    def field(
        self,
        n: int,
        row: int,
        cells: dict[str, Any],
        where: dict[str, str],
        keys: set[str],
        labels: set[str],
    ) -> Field | None:
        """One question from its cells (`where` names each cell's column or key)."""
        before = len(self.problems)
        label = _raw(cells.get("label"))
        if not label:
            self.fail(TemplateTexts.missing, row, where["label"], what=where["label"])
        elif label in labels:
            self.fail(TemplateTexts.duplicate_question, row, where["label"], value=label)
        labels.add(label)
        type_text = _cell(cells.get("type"))
        ftype = TYPE_NAMES.get(type_text) or TYPE_NAMES.get(type_text.lower())
        if not type_text:
            self.fail(TemplateTexts.missing, row, where["type"], what=where["type"])
        elif ftype is None:
            self.fail(
                TemplateTexts.unknown_type,
                row,
                where["type"],
                value=type_text,
                allowed="、".join(TYPE_LABELS.values()),
            )
        if ftype is not None:
            self.typed.append((ftype, row, where["type"]))
        raw_options = cells.get("options")
        if isinstance(raw_options, list | tuple):
            options = [_cell(o) for o in raw_options if _cell(o)]
        else:
            options = [o.strip() for o in _OPTION_SEPARATORS.split(_cell(raw_options)) if o.strip()]
        if ftype in (FieldType.CHOICE, FieldType.MULTI):
            if not options:
                self.fail(TemplateTexts.needs_options, row, where["options"])
            seen: set[str] = set()
            for option in options:
                if option in seen:
                    self.fail(TemplateTexts.duplicate_option, row, where["options"], value=option)
                elif option.isdigit() or _SPACES.search(option):
                    self.fail(TemplateTexts.bad_option, row, where["options"], value=option)
                seen.add(option)
        key = _cell(cells.get("key")) or f"q{n}"
        if not _KEY.fullmatch(key):
            self.fail(TemplateTexts.bad_key, row, where["key"], value=key)
        elif key in keys:
            self.fail(TemplateTexts.duplicate_key, row, where["key"], value=key)
        keys.add(key)
        required = self.flag(cells.get("required"), row, where["required"], True)
        sensitive = self.flag(cells.get("sensitive"), row, where["sensitive"], False)
        low = self.number(cells.get("minimum"), row, where["minimum"])
        high = self.number(cells.get("maximum"), row, where["maximum"])
        if low is not None and high is not None and low > high:
            self.fail(TemplateTexts.min_above_max, row, where["minimum"])
        length = self.number(cells.get("max_length"), row, where["max_length"])
        if len(self.problems) > before or ftype is None:
            return None
        return Field(
            key=key,
            label=label,
            label_en=_raw(cells.get("label_en")) or label,
            type=ftype,
            required=required,
            sensitive=sensitive,
            options=tuple(options) if ftype in (FieldType.CHOICE, FieldType.MULTI) else (),
            minimum=low,
            maximum=high,
            unit=_cell(cells.get("unit")),
            example=_raw(cells.get("example")),
            max_length=int(length) if length is not None else None,
        )

    def form(self, fields: list[Field]) -> Form:
        if not fields and not self.problems:
            self.fail(TemplateTexts.no_fields)
        for ftype, row, column in self.typed[:-1]:
            if ftype is FieldType.LONGTEXT:
                self.fail(TemplateTexts.longtext_last, row, column)
        return Form(tuple(fields))

    def settings(self, values: dict[str, Any], where: dict[str, tuple[int, str]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("title", "title_en", "description", "description_en"):
            if values.get(name) is not None:
                out[name] = _raw(values[name])
        if values.get("period") is not None:
            period = _cell(values["period"]).lower()
            if period not in PERIOD_WORDS:
                row, column = where["period"]
                self.fail(TemplateTexts.unknown_period, row, column, value=period)
        if values.get("deadline_days") is not None:
            row, column = where["deadline_days"]
            days = self.number(values["deadline_days"], row, column)
            if days is not None:
                if days < 0 or not float(days).is_integer():
                    self.fail(
                        TemplateTexts.not_a_number,
                        row,
                        column,
                        value=_cell(values["deadline_days"]),
                    )
                else:
                    out["deadline_days"] = int(days)
        if values.get("remind_before_hours") is not None:
            row, column = where["remind_before_hours"]
            raw = values["remind_before_hours"]
            items = raw if isinstance(raw, list) else _OPTION_SEPARATORS.split(_cell(raw))
            hours = []
            for item in items:
                if _cell(item) == "":
                    continue
                value = self.number(item, row, column)
                if value is not None:
                    if value < 0:
                        self.fail(TemplateTexts.not_a_number, row, column, value=_cell(item))
                    hours.append(value)
            out["remind_before_hours"] = tuple(sorted(set(hours), reverse=True))
        if values.get("private") is not None:
            row, column = where["private"]
            out["private"] = self.flag(values["private"], row, column, False)
        return out


def template_name(path: Path) -> str:
    return path.stem


def load_template(path: Path) -> Template:
    """A template from a .toml or .xlsx file; TemplateInvalid names every problem."""
    suffix = path.suffix.lower()
    reader = _Reader(path.name)
    if suffix not in TEMPLATE_SUFFIXES:
        reader.fail(TemplateTexts.bad_suffix)
        raise TemplateInvalid(reader.problems)
    if not path.is_file():
        reader.fail(TemplateTexts.not_found)
        raise TemplateInvalid(reader.problems)
    template = _load_toml(path, reader) if suffix == ".toml" else _load_xlsx(path, reader)
    if reader.problems or template is None:
        raise TemplateInvalid(reader.problems)
    return template


_TOML_FIELD_KEYS = {
    "label": "label",
    "label_en": "label_en",
    "type": "type",
    "options": "options",
    "required": "required",
    "sensitive": "sensitive",
    "key": "key",
    "minimum": "minimum",
    "maximum": "maximum",
    "unit": "unit",
    "example": "example",
    "max_length": "max_length",
}


def _load_toml(path: Path, reader: _Reader) -> Template | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        reader.fail(TemplateTexts.bad_toml, reason=str(e))
        return None
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        reader.fail(TemplateTexts.no_fields, column="fields")
        return None
    fields: list[Field] = []
    keys: set[str] = set()
    labels: set[str] = set()
    for n, entry in enumerate(raw_fields, 1):
        if not isinstance(entry, dict):
            reader.fail(TemplateTexts.missing, column=f"fields[{n}]", what="label, type")
            continue
        where = {k: f"fields[{n}].{k}" for k in _TOML_FIELD_KEYS}
        made = reader.field(n, 0, entry, where, keys, labels)
        if made is not None:
            fields.append(made)
    form = reader.form(fields)
    title = _raw(data.get("title"))
    if not title:
        reader.fail(TemplateTexts.missing, column="title", what="title")
    settings = reader.settings(data, {k: (0, k) for k in _SETTING_NAMES.values()})
    settings.pop("title", None)
    return Template(name=template_name(path), title=title, form=form, **settings)


def _load_xlsx(path: Path, reader: _Reader) -> Template | None:
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception:
        reader.fail(TemplateTexts.not_xlsx)
        return None
    try:
        ws = wb[FORM_SHEET] if FORM_SHEET in wb.sheetnames else wb.worksheets[0]
        header_row, header = 0, []
        for n, values in enumerate(ws.iter_rows(max_row=10, values_only=True), 1):
            heads = [_cell(v) for v in values]
            if COLUMNS[0] in heads and COLUMNS[1] in heads:
                header_row, header = n, heads
                break
        if not header_row:
            reader.fail(TemplateTexts.no_header)
            return None
        index = {h: header.index(h) for h in (*COLUMNS, *EXTRA_COLUMNS) if h in header}
        names = FIELD_COLUMNS
        fields: list[Field] = []
        keys: set[str] = set()
        labels: set[str] = set()
        n = 0
        for row, values in enumerate(
            ws.iter_rows(min_row=header_row + 1, values_only=True), header_row + 1
        ):
            cells = {
                name: values[index[column]]
                if column in index and index[column] < len(values)
                else None
                for name, column in names.items()
                if name not in ("key", "max_length")
            }
            if not any(_cell(v) for v in cells.values()):
                continue
            example = index.get(EXAMPLE_COLUMN)
            if example is not None and example < len(values) and _cell(values[example]):
                continue
            n += 1
            made = reader.field(n, row, cells, names, keys, labels)
            if made is not None:
                fields.append(made)
        form = reader.form(fields)
        settings: dict[str, Any] = {}
        if SETTINGS_SHEET in wb.sheetnames:
            values_by_name: dict[str, Any] = {}
            where: dict[str, tuple[int, str]] = {}
            for row, values in enumerate(wb[SETTINGS_SHEET].iter_rows(values_only=True), 1):
                if not values:
                    continue
                name = _SETTING_NAMES.get(_cell(values[0]))
                if name is not None and len(values) > 1 and _cell(values[1]):
                    values_by_name[name] = values[1]
                    where[name] = (row, _cell(values[0]))
            settings = reader.settings(values_by_name, where)
    finally:
        wb.close()
    title = settings.pop("title", "") or template_name(path)
    return Template(name=template_name(path), title=title, form=form, **settings)


def write_template_xlsx(path: Path, lang: str = "zh") -> None:
    """A blank form sheet: the columns, one example row (marked in 示例, never read as a
    question), drop-down lists of the allowed values, a settings sheet and notes in `lang`.
    What the reader reads back (sheet names, headers, type names) is the same in either."""
    wb = Workbook()
    ws = wb.active
    ws.title = FORM_SHEET
    ws.append([*COLUMNS, *EXTRA_COLUMNS])
    ws.append(list(EXAMPLE_ROW))
    widths = {
        "A": 24,
        "B": 10,
        "C": 36,
        "D": 8,
        "E": 8,
        "F": 20,
        "G": 8,
        "H": 8,
        "I": 8,
        "J": 14,
        "K": 8,
    }
    for column, width in widths.items():
        ws.column_dimensions[column].width = width
    ws.freeze_panes = "A2"
    types = DataValidation(
        type="list", formula1=f'"{",".join(TYPE_LABELS.values())}"', allow_blank=True
    )
    flags = DataValidation(type="list", formula1=f'"{",".join(FLAG_WORDS)}"', allow_blank=True)
    ws.add_data_validation(types)
    ws.add_data_validation(flags)
    types.add("B2:B200")
    flags.add("D2:E200")
    settings = wb.create_sheet(SETTINGS_SHEET)
    T = TemplateFileTexts
    setting_values: dict[str, Any] = {
        "title": T.title_hint(lang),
        "title_en": "",
        "description": "",
        "period": "once",
        "deadline_days": 3,
        "remind_before_hours": "2、0",
        "private": FLAG_WORDS[1],
    }
    for word, name in _SETTING_NAMES.items():
        if name in setting_values:
            settings.append([word, setting_values[name]])
    settings.column_dimensions["A"].width = 12
    settings.column_dimensions["B"].width = 40
    notes = wb.create_sheet(T.notes_sheet(lang))
    for line in (
        T.note_rows(lang, example=EXAMPLE_COLUMN, yes=FLAG_WORDS[0]),
        T.note_types(lang),
        T.note_options(lang),
        T.note_required(lang),
        T.note_sensitive(lang),
        T.note_numbers(lang),
        T.note_settings(lang),
    ):
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    wb.save(path)


def templates_dir(configured: Path | None) -> Path:
    """The folder of named templates: `collect.templates_dir`, else the shipped ones."""
    return configured if configured is not None else TEMPLATES_DIR


def template_files(directory: Path) -> list[Path]:
    """The template files of a folder, by name."""
    if not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in TEMPLATE_SUFFIXES
    )


def find_template(directory: Path, name: str) -> Path | None:
    """The file of a named template (`寒假离校返乡登记`), or None."""
    wanted = _norm(name).casefold()
    for path in template_files(directory):
        if _norm(path.stem).casefold() == wanted:
            return path
    return None
