"""信息收集 forms: every field type and its refusals, one-line answers, and templates."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from storage import forms
from storage.forms import (
    BadAnswer,
    Field,
    FieldType,
    Form,
    TemplateInvalid,
    WrongAnswerCount,
    parse_line,
    parse_value,
)

TODAY = date(2026, 12, 2)

TEMP = Field("temp", "体温", "Temperature", FieldType.NUMBER, minimum=35, maximum=42, unit="℃")
COUNT = Field("count", "人数", "People", FieldType.NUMBER, minimum=0)
TRANSPORT = Field(
    "transport",
    "交通方式",
    "Transport",
    FieldType.CHOICE,
    options=("火车", "飞机", "汽车", "自驾", "其他"),
)
DEVICES = Field("devices", "设备", "Devices", FieldType.MULTI, options=("手机", "电脑", "平板"))
STAYING = Field("staying", "是否留校", "Staying", FieldType.YESNO)
LEAVE = Field("leave", "离校日期", "Departure", FieldType.DATE)
CITY = Field("city", "目的地", "Destination", FieldType.TEXT, example="湖北恩施")
NOTE = Field("note", "备注", "Note", FieldType.LONGTEXT, required=False)
PHONE = Field(
    "phone", "电话", "Phone", FieldType.TEXT, required=False, sensitive=True, max_length=11
)


def refusal(fld: Field, text: str, lang: str = "zh") -> str:
    with pytest.raises(BadAnswer) as info:
        parse_value(fld, text, TODAY)
    assert info.value.field is fld
    return info.value.render(lang)


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("36.5", 36.5),
        ("３６．５", 36.5),
        ("36.5℃", 36.5),
        ("36,5", 36.5),
        ("37度", 37),
        ("36.5 ℃", 36.5),
    ],
)
def test_a_number_is_read_with_its_unit_and_full_width_digits(text: str, value: float) -> None:
    assert parse_value(TEMP, text, TODAY) == value


def test_a_whole_number_is_stored_as_an_integer() -> None:
    value = parse_value(COUNT, "3", TODAY)
    assert value == 3 and isinstance(value, int)


def test_a_number_out_of_range_names_the_question_the_range_and_an_example() -> None:
    text = refusal(TEMP, "45")
    assert text == "「体温」应在 35–42℃ 之间。例：38.5℃"
    assert (
        refusal(TEMP, "45", "en") == "“Temperature”: must be between 35 and 42℃. For example: 38.5℃"
    )


def test_a_number_below_its_minimum_is_refused() -> None:
    assert "不能小于 0" in refusal(COUNT, "-1")


def test_a_number_above_its_maximum_is_refused() -> None:
    fld = Field("n", "次数", "Times", FieldType.NUMBER, maximum=10)
    assert "不能大于 10" in refusal(fld, "11")


@pytest.mark.parametrize("text", ["abc", "36.5.1", "一", "nan", "inf", "36.5kg"])
def test_what_is_not_a_number_is_refused(text: str) -> None:
    assert "要填一个数字（℃）" in refusal(TEMP, text)


# -- choices ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"), [("火车", "火车"), ("2", "飞机"), ("２", "飞机"), ("自", "自驾")]
)
def test_a_choice_is_read_by_its_text_its_number_or_a_unique_start(text: str, value: str) -> None:
    assert parse_value(TRANSPORT, text, TODAY) == value


@pytest.mark.parametrize("text", ["火箭", "6", "0"])
def test_a_choice_that_is_no_option_lists_the_numbered_options(text: str) -> None:
    assert refusal(TRANSPORT, text) == (
        f"「交通方式」没有「{text}」这个选项，请写选项或它的序号："
        "1.火车 2.飞机 3.汽车 4.自驾 5.其他。例：火车"
    )


def test_an_ambiguous_start_of_an_option_is_refused() -> None:
    fld = Field("x", "意向", "Plan", FieldType.CHOICE, options=("考公", "考研"))
    assert "没有「考」这个选项" in refusal(fld, "考")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("手机、电脑", ["手机", "电脑"]),
        ("电脑,手机", ["手机", "电脑"]),
        ("1，3", ["手机", "平板"]),
        ("平板 手机", ["手机", "平板"]),
        ("手机；手机/2", ["手机", "电脑"]),
        ("电脑", ["电脑"]),
    ],
)
def test_multiple_choices_are_separated_and_kept_in_the_options_order(
    text: str, value: list[str]
) -> None:
    assert parse_value(DEVICES, text, TODAY) == value


def test_a_multiple_choice_with_one_wrong_item_is_refused_whole() -> None:
    assert "没有「电视」这个选项" in refusal(DEVICES, "手机、电视")


# -- yes/no, dates, text ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["是", "有", "yes", "Y", "是的", "对"])
def test_yes_answers(text: str) -> None:
    assert parse_value(STAYING, text, TODAY) is True


@pytest.mark.parametrize("text", ["否", "无", "no", "N", "没有", "不是"])
def test_no_answers(text: str) -> None:
    assert parse_value(STAYING, text, TODAY) is False


def test_neither_yes_nor_no_is_refused() -> None:
    assert refusal(STAYING, "也许") == "「是否留校」请回答「是」或「否」，「也许」看不懂。例：是"
    assert refusal(STAYING, "maybe", "en").startswith("“Staying”: answer yes or no")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2027-01-15", "2027-01-15"),
        ("1-15", "2027-01-15"),
        ("1月15日", "2027-01-15"),
        ("1/15", "2027-01-15"),
        ("明天", "2026-12-03"),
        ("后天", "2026-12-04"),
        ("２０２７－０１－１５", "2027-01-15"),
    ],
)
def test_dates_as_people_write_them_relative_to_today(text: str, value: str) -> None:
    assert parse_value(LEAVE, text, TODAY) == value


def test_an_unreadable_date_is_refused_with_the_forms_accepted() -> None:
    text = refusal(LEAVE, "寒假")
    assert text.startswith("「离校日期」日期「寒假」看不懂，可以写 2027-01-15、1-15、1月15日")
    assert text.endswith("例：2026-12-05")


def test_a_day_that_does_not_exist_is_refused() -> None:
    assert "没有「2027-02-30」这一天" in refusal(LEAVE, "2027-02-30")


def test_a_short_text_over_its_limit_is_refused_with_the_limit() -> None:
    assert refusal(CITY, "湖" * 51) == "「目的地」太长了：最多 50 个字，现在 51 个。例：湖北恩施"
    assert "at most 11 characters" in refusal(PHONE, "1" * 12, "en")


def test_a_short_text_is_one_line() -> None:
    assert "要写在一行里" in refusal(CITY, "湖北\n恩施")


def test_a_long_text_keeps_its_lines_up_to_its_limit() -> None:
    assert parse_value(NOTE, "第一行\n第二行", TODAY) == "第一行\n第二行"
    assert "最多 500 个字" in refusal(NOTE, "字" * 501)


# -- required and optional -------------------------------------------------------------------


@pytest.mark.parametrize("fld", [TEMP, TRANSPORT, DEVICES, STAYING, LEAVE, CITY])
@pytest.mark.parametrize("text", ["", "-", "跳过"])
def test_a_required_question_cannot_be_skipped(fld: Field, text: str) -> None:
    assert "必须填写" in refusal(fld, text)


@pytest.mark.parametrize("text", ["-", "－", "跳过", "skip", ""])
def test_an_optional_question_is_skipped_with_a_dash_or_tiaoguo(text: str) -> None:
    assert parse_value(NOTE, text, TODAY) is None
    assert parse_value(PHONE, text, TODAY) is None


# -- one line --------------------------------------------------------------------------------

HOLIDAY = Form(
    (
        LEAVE,
        CITY,
        TRANSPORT,
        Field("back", "返校日期", "Return", FieldType.DATE, example="2027-02-20"),
        NOTE,
    )
)


def test_a_one_line_answer_fills_the_questions_in_order() -> None:
    assert parse_line(HOLIDAY, "2027-01-15 湖北恩施 火车 2027-02-20", TODAY) == {
        "leave": "2027-01-15",
        "city": "湖北恩施",
        "transport": "火车",
        "back": "2027-02-20",
        "note": None,
    }


def test_a_long_text_last_takes_the_rest_of_the_line() -> None:
    got = parse_line(HOLIDAY, "1-15　湖北恩施 2 2-20 坐 K1234 次，到站  晚上", TODAY)
    assert got["transport"] == "飞机"
    assert got["note"] == "坐 K1234 次，到站  晚上"


def test_a_one_line_answer_with_too_few_answers_shows_the_order() -> None:
    with pytest.raises(WrongAnswerCount) as info:
        parse_line(HOLIDAY, "2027-01-15 湖北恩施", TODAY, prefix="填 C3 ")
    assert info.value.render("zh") == (
        "需要按顺序回答 4–5 项，用空格分开：离校日期、目的地、交通方式、返校日期、[备注]；"
        "收到的是 2 项。例：填 C3 2026-12-05 湖北恩施 火车 2027-02-20"
    )
    assert "Departure, Destination, Transport, Return, [Note]" in info.value.render("en")


def test_a_one_line_answer_with_too_many_answers_is_refused() -> None:
    form = Form((LEAVE, CITY))
    with pytest.raises(WrongAnswerCount) as info:
        parse_line(form, "1-15 湖北 恩施", TODAY)
    assert "需要按顺序回答 2 项" in info.value.render(
        "zh"
    ) and "收到的是 3 项" in info.value.render("zh")


def test_a_one_line_answer_names_the_first_wrong_question() -> None:
    with pytest.raises(BadAnswer) as info:
        parse_line(HOLIDAY, "2027-01-15 湖北恩施 火箭 2027-02-20", TODAY)
    assert info.value.field is TRANSPORT


def test_a_form_round_trips_through_json() -> None:
    form = Form((TEMP, TRANSPORT, DEVICES, STAYING, LEAVE, CITY, PHONE, NOTE))
    assert Form.from_json(form.to_json()) == form
    assert form.sensitive_keys == {"phone"}


def test_answers_are_shown_as_typed_types() -> None:
    assert forms.format_value(TEMP, 36.5, "zh") == "36.5℃"
    assert forms.format_value(DEVICES, ["手机", "电脑"], "zh") == "手机、电脑"
    assert forms.format_value(STAYING, False, "en") == "no"
    assert forms.format_value(NOTE, None, "zh") == "（未填）"


# -- templates -------------------------------------------------------------------------------


def test_the_three_shipped_templates_load() -> None:
    names = {p.stem: forms.load_template(p) for p in forms.template_files(forms.TEMPLATES_DIR)}
    assert set(names) == {"寒假离校返乡登记", "留校学生情况统计", "就业意向调查"}
    holiday = names["寒假离校返乡登记"].form
    assert [f.label for f in holiday.fields][:4] == ["离校日期", "目的地", "交通方式", "返校日期"]
    assert holiday.field("transport").options == ("火车", "飞机", "汽车", "自驾", "其他")
    assert (
        parse_line(holiday, "2027-01-15 湖北恩施 火车 2027-02-20", TODAY)["destination"]
        == "湖北恩施"
    )
    staying = names["留校学生情况统计"]
    assert "phone" in staying.form.sensitive_keys
    assert parse_line(staying.form, "否", TODAY)["staying"] is False
    jobs = names["就业意向调查"].form
    assert jobs.field("intention").options == ("就业", "升学", "考公", "参军", "创业", "暂不确定")
    for template in names.values():
        assert template.title == template.name and template.title_en
        assert template.period == "once" and 0.0 in template.remind_before_hours


def test_the_shipped_templates_are_packaged() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "templates/*.toml" in pyproject["tool"]["setuptools"]["package-data"]["storage"]
    assert Path(forms.__file__).parent / "templates" == forms.TEMPLATES_DIR


def test_a_named_template_is_found_in_the_folder() -> None:
    found = forms.find_template(forms.TEMPLATES_DIR, "就业意向调查")
    assert found is not None and found.name == "就业意向调查.toml"
    assert forms.find_template(forms.TEMPLATES_DIR, "不存在") is None
    assert forms.templates_dir(None) == forms.TEMPLATES_DIR


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, lang: str = "zh") -> list[str]:
    with pytest.raises(TemplateInvalid) as info:
        forms.load_template(path)
    return [p.render(lang) for p in info.value.problems]


def test_a_toml_template_gives_its_title_period_and_reminders(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path / "宿舍检查.toml",
        'title = "宿舍晚归检查"\ndeadline_days = 1\nremind_before_hours = [0, 1]\n'
        '[[fields]]\nlabel = "是否晚归"\ntype = "是否"\n'
        '[[fields]]\nlabel = "人数"\ntype = "数字"\nminimum = 0\nmaximum = 8\nunit = "人"\n',
    )
    t = forms.load_template(path)
    assert (t.name, t.title, t.deadline_days, t.remind_before_hours) == (
        "宿舍检查",
        "宿舍晚归检查",
        1,
        (1.0, 0.0),
    )
    assert [(f.key, f.type) for f in t.form.fields] == [
        ("q1", FieldType.YESNO),
        ("q2", FieldType.NUMBER),
    ]
    assert parse_value(t.form.fields[1], "3人", TODAY) == 3


def test_a_malformed_toml_template_names_each_problem(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path / "bad.toml",
        'period = "weekly"\n'
        '[[fields]]\nlabel = "交通"\ntype = "单选"\n'
        '[[fields]]\nlabel = "颜色"\ntype = "colour"\n'
        '[[fields]]\nlabel = "人数"\ntype = "number"\nminimum = 9\nmaximum = 1\n'
        '[[fields]]\nlabel = "必填吗"\ntype = "text"\nrequired = "maybe"\n',
    )
    assert problems(path) == [
        "bad.toml 的「fields[1].options」：单选和多选要写「选项」，用、分隔（例：火车、飞机、汽车）。",
        "bad.toml 的「fields[2].type」：未知的类型「colour」，可以写：数字、单选、多选、是否、日期、短文本、长文本。",
        "bad.toml 的「fields[3].minimum」：最小值大于最大值。",
        "bad.toml 的「fields[4].required」：要写「是」或「否」，不是「maybe」。",
        "bad.toml 的「title」：缺少title。",
        "bad.toml 的「period」：周期只能是 once（一次），不是「weekly」。",
    ]


def test_a_toml_file_that_is_not_toml_is_reported(tmp_path: Path) -> None:
    (found,) = problems(write_toml(tmp_path / "x.toml", "title = \n"))
    assert found.startswith("x.toml：不是有效的 TOML")


def test_a_toml_template_without_questions_is_reported(tmp_path: Path) -> None:
    assert problems(write_toml(tmp_path / "x.toml", 'title = "空"\n')) == [
        "x.toml 的「fields」：一个问题也没有。"
    ]


def test_a_missing_or_foreign_file_is_reported(tmp_path: Path) -> None:
    assert problems(tmp_path / "none.toml") == ["none.toml：找不到这个文件，请检查路径。"]
    (tmp_path / "a.csv").write_text("题目,类型\n")
    assert problems(tmp_path / "a.csv", "en") == ["a.csv: a template is a .toml or an .xlsx file."]
    (tmp_path / "fake.xlsx").write_text("not a workbook")
    assert problems(tmp_path / "fake.xlsx")[0].startswith("fake.xlsx：打不开这个文件")


def sheet(path: Path, rows: list[list[Any]], settings: list[list[Any]] | None = None) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = forms.FORM_SHEET
    for row in rows:
        ws.append(row)
    if settings is not None:
        st = wb.create_sheet(forms.SETTINGS_SHEET)
        for row in settings:
            st.append(row)
    wb.save(path)
    return path


def test_an_xlsx_form_sheet_is_read_row_by_row(tmp_path: Path) -> None:
    path = sheet(
        tmp_path / "返校登记.xlsx",
        [
            ["2027 春季返校登记"],
            ["题目", "类型", "选项", "必填", "敏感", "单位", "最小", "最大"],
            ["返校日期", "日期", None, "是", "否"],
            ["交通方式", "单选", "火车、飞机，汽车", None, None],
            [None, None, None, None, None],
            ["体温", "number", None, "否", None, "℃", 35, 42],
            ["联系电话", "短文本", None, "否", "是"],
        ],
        settings=[["标题", "春季返校登记"], ["截止天数", 2], ["提醒", "3、0"], ["私聊", "是"]],
    )
    t = forms.load_template(path)
    assert (t.title, t.deadline_days, t.remind_before_hours, t.private) == (
        "春季返校登记",
        2,
        (3.0, 0.0),
        True,
    )
    assert [f.label for f in t.form.fields] == ["返校日期", "交通方式", "体温", "联系电话"]
    assert t.form.fields[1].options == ("火车", "飞机", "汽车")
    assert t.form.fields[2].required is False and t.form.fields[2].maximum == 42
    assert t.form.sensitive_keys == {"q4"}


def test_an_xlsx_without_a_settings_sheet_is_titled_after_its_file(tmp_path: Path) -> None:
    t = forms.load_template(sheet(tmp_path / "设备调查.xlsx", [["题目", "类型"], ["设备", "是否"]]))
    assert t.title == "设备调查" and t.deadline_days == 3


def test_a_malformed_xlsx_form_sheet_names_the_row_and_column(tmp_path: Path) -> None:
    path = sheet(
        tmp_path / "bad.xlsx",
        [
            ["题目", "类型", "选项", "必填", "敏感"],
            ["交通方式", "单选", None, "是", "否"],
            ["", "日期", None, None, None],
            ["心情", "心情", None, None, None],
            ["人数", "数字", None, "必须", None],
            ["意见", "长文本", None, None, None],
            ["意见", "短文本", None, None, "保密"],
            ["设备", "多选", "手机、1、手机", None, None],
        ],
        settings=[["截止天数", "三天"]],
    )
    assert problems(path) == [
        "bad.xlsx 第 2 行「选项」：单选和多选要写「选项」，用、分隔（例：火车、飞机、汽车）。",
        "bad.xlsx 第 3 行「题目」：缺少题目。",
        "bad.xlsx 第 4 行「类型」：未知的类型「心情」，可以写：数字、单选、多选、是否、日期、短文本、长文本。",
        "bad.xlsx 第 5 行「必填」：要写「是」或「否」，不是「必须」。",
        "bad.xlsx 第 7 行「题目」：题目「意见」写了两次。",
        "bad.xlsx 第 7 行「敏感」：要写「是」或「否」，不是「保密」。",
        "bad.xlsx 第 8 行「选项」：选项「1」不能是纯数字，也不能含空格：回答时数字表示第几项。",
        "bad.xlsx 第 8 行「选项」：选项「手机」写了两次。",
        "bad.xlsx 第 6 行「类型」：长文本只能放在最后一题（一行回答时它取走剩下的全部文字）。",
        "bad.xlsx 第 1 行「截止天数」：要写一个数字，不是「三天」。",
    ]
    assert problems(path, "en")[0] == (
        "bad.xlsx row 2, column 选项: a choice needs its options, separated by commas (e.g. train, plane, bus)."
    )


def test_an_xlsx_without_the_header_is_reported(tmp_path: Path) -> None:
    path = sheet(tmp_path / "x.xlsx", [["问题", "种类"], ["a", "b"]])
    assert problems(path) == [
        "x.xlsx：前 10 行里找不到表头：需要一行写着「题目」「类型」（请用 classbot collect template 生成的表）。"
    ]


def test_the_blank_form_sheet_has_the_columns_an_example_and_the_allowed_values(
    tmp_path: Path,
) -> None:
    path = tmp_path / "blank.xlsx"
    forms.write_template_xlsx(path)
    wb = load_workbook(path)
    ws = wb[forms.FORM_SHEET]
    assert [c.value for c in ws[1]][:5] == ["题目", "类型", "选项", "必填", "敏感"]
    assert ws["A2"].value == "交通方式" and ws["K2"].value == "是"
    allowed = [v.formula1 for v in ws.data_validations.dataValidation]
    assert '"数字,单选,多选,是否,日期,短文本,长文本"' in allowed
    assert "长文本" in "".join(str(r[0].value) for r in wb[forms.NOTES_SHEET].iter_rows())
    # Only the example row: nothing to ask yet.
    assert problems(path) == ["blank.xlsx：一个问题也没有。"]


def test_the_blank_form_sheet_explains_itself_in_english(tmp_path: Path) -> None:
    path = tmp_path / "blank.xlsx"
    forms.write_template_xlsx(path, "en")
    wb = load_workbook(path)
    # What the reader reads back is the file's vocabulary, the same in either language.
    ws = wb[forms.FORM_SHEET]
    assert [c.value for c in ws[1]][:5] == ["题目", "类型", "选项", "必填", "敏感"]
    notes = [str(r[0].value) for r in wb["Notes"].iter_rows()]
    assert notes[0].startswith("One question a row, asked in order.")
    cjk = re.compile(r"[\u4e00-\u9fff]")
    english = [line for line in notes if not cjk.search(line.replace("示例", "").replace("是", ""))]
    assert len(english) == len(notes) == 7
    assert wb[forms.SETTINGS_SHEET]["B1"].value == "(the collection's title)"
    assert problems(path) == ["blank.xlsx：一个问题也没有。"]


def test_a_filled_in_blank_sheet_loads(tmp_path: Path) -> None:
    path = tmp_path / "blank.xlsx"
    forms.write_template_xlsx(path)
    wb = load_workbook(path)
    wb[forms.FORM_SHEET].append(["目的地", "短文本", None, "是", "否"])
    wb[forms.SETTINGS_SHEET]["B1"] = "返乡登记"
    wb.save(path)
    t = forms.load_template(path)
    assert t.title == "返乡登记" and [f.label for f in t.form.fields] == ["目的地"]


def test_the_template_shown_in_extending_md_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "extending.md").read_text(encoding="utf-8")
    source = doc.split("## Adding a campaign template", 1)[1].split("```toml\n", 1)[1]
    path = tmp_path / "宿舍晚归登记.toml"
    path.write_text(source.split("```", 1)[0], encoding="utf-8")
    t = forms.load_template(path)
    assert t.title == "宿舍晚归登记" and t.deadline_days == 2
    assert [f.type for f in t.form.fields] == [
        FieldType.YESNO,
        FieldType.NUMBER,
        FieldType.TEXT,
        FieldType.LONGTEXT,
    ]
    assert t.form.sensitive_keys == {"phone"}
    assert (
        parse_line(t.form, "是 2次 - 回来晚了 因为 实验", TODAY)["reason"] == "回来晚了 因为 实验"
    )
