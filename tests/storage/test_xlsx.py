"""The ledger's .xlsx writer: what it writes opens in openpyxl and reads back as written."""

from __future__ import annotations

import enum
import zipfile
from datetime import date, datetime, timedelta, timezone
from io import BytesIO
from xml.etree import ElementTree

import pytest
from openpyxl import load_workbook

from storage import xlsx


def book() -> bytes:
    wb = xlsx.Workbook()
    sheet = wb.add_sheet("打卡", ["学院", "时间", "日期", "体温", "备注"], [12, 17, 11, 9, 24])
    sheet.append(["医学院", datetime(2026, 11, 23, 8, 5, 30), date(2026, 11, 23), 36.5, "=1+1"])
    sheet.append(['护理<172> & "co"', None, None, 37, "  spaced \n two lines  "])
    sheet.append(["－全角", None, None, None, "@mention"])
    sheet.append(["", None, None, 0, ""])
    wb.add_sheet("空 & <表>", ["甲"], [6])
    return wb.save()


def test_values_read_back_with_their_types() -> None:
    ws = load_workbook(BytesIO(book()))["打卡"]
    assert list(ws.iter_rows(values_only=True)) == [
        ("学院", "时间", "日期", "体温", "备注"),
        ("医学院", datetime(2026, 11, 23, 8, 5, 30), datetime(2026, 11, 23), 36.5, "=1+1"),
        ('护理<172> & "co"', None, None, 37, "  spaced \n two lines  "),
        ("－全角", None, None, None, "@mention"),
        (None, None, None, 0, None),
    ]


def test_dates_have_date_formats_and_formula_text_is_text() -> None:
    ws = load_workbook(BytesIO(book()))["打卡"]
    assert ws["B2"].number_format == xlsx.TIME_FORMAT
    assert ws["C2"].number_format == xlsx.DATE_FORMAT
    assert ws["C2"].is_date and ws["B2"].is_date
    for ref in ("E2", "A4", "E4"):
        assert ws[ref].data_type == "s"
        assert ws[ref].quotePrefix
    assert not ws["A2"].quotePrefix


def test_header_is_bold_filled_frozen_and_columns_have_widths() -> None:
    wb = load_workbook(BytesIO(book()))
    ws = wb["打卡"]
    assert ws.freeze_panes == "A2"
    assert ws["A1"].font.b and ws["A1"].fill.fgColor.rgb == "00DDEBF7"
    assert ws["A1"].alignment.horizontal == "center"
    assert ws.column_dimensions["A"].width == 12
    assert ws.column_dimensions["E"].width == 24
    assert wb.sheetnames == ["打卡", "空 & <表>"]
    assert list(wb["空 & <表>"].iter_rows(values_only=True)) == [("甲",)]


def test_every_part_is_well_formed_xml() -> None:
    with zipfile.ZipFile(BytesIO(book())) as z:
        assert z.testzip() is None
        names = z.namelist()
        assert "[Content_Types].xml" in names and "xl/worksheets/sheet2.xml" in names
        for name in names:
            ElementTree.fromstring(z.read(name))


def test_excel_serial_numbers() -> None:
    assert xlsx.excel_serial(date(1900, 3, 1)) == 61
    assert xlsx.excel_serial(date(2026, 11, 23)) == 46349
    assert xlsx.excel_serial(datetime(2026, 11, 23, 12)) == 46349.5


def test_aware_datetimes_and_unknown_types_are_refused() -> None:
    sheet = xlsx.Workbook().add_sheet("s", ["a"], [8])
    with pytest.raises(TypeError):
        sheet.append([datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8)))])
    with pytest.raises(TypeError):
        sheet.append([object()])


def test_many_rows_stream_and_read_back() -> None:
    wb = xlsx.Workbook()
    sheet = wb.add_sheet("s", ["n", "text"], [8, 8])
    for i in range(3000):
        sheet.append([i, f"学生{i}"])
    ws = load_workbook(BytesIO(wb.save()), read_only=True)["s"]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 3000 and rows[-1] == (2999, "学生2999")


def test_an_unfinished_workbook_closes_cleanly() -> None:
    wb = xlsx.Workbook()
    sheet = wb.add_sheet("s", ["a"], [8])
    sheet.append(["x"])
    wb.close()
    wb.close()
    # Its sheet and its zip are closed: nothing more can be written to either.
    with pytest.raises(AssertionError, match="already closed"):  # noqa: PT012
        for _ in range(600):  # enough rows to reach the stream
            sheet.append(["y"])
    with pytest.raises(ValueError, match="closed"):
        wb.add_sheet("t", ["a"], [8])


def test_charts_are_native_excel_charts_over_the_sheets_cells() -> None:
    wb = xlsx.Workbook()
    wb.add_sheet("first", ["a"], [8]).append(["x"])
    sheet = wb.add_sheet("图", ["班级", "完成率", "异常"], [8, 8, 8])
    sheet.append(["护理172", xlsx.Percent(0.5), 2])
    sheet.append(["检验172", xlsx.Percent(1.0), 0])
    sheet.add_chart(
        xlsx.Chart("完成率", "A2:A3", (xlsx.Series("B1", "B2:B3"),), (4, 0, 10, 15), True, True)
    )
    sheet.add_chart(
        xlsx.Chart(
            "趋势",
            "A2:A3",
            (xlsx.Series("C1", "C2:C3"), xlsx.Series("B1", "B2:B3", line=True)),
            (4, 16, 10, 30),
        )
    )
    content = wb.save()
    with zipfile.ZipFile(BytesIO(content)) as z:
        names = set(z.namelist())
        assert {"xl/charts/chart1.xml", "xl/charts/chart2.xml", "xl/drawings/drawing1.xml"} <= names
        assert "xl/worksheets/_rels/sheet2.xml.rels" in names
        assert "xl/worksheets/_rels/sheet1.xml.rels" not in names
        for name in ("xl/charts/chart2.xml", "xl/drawings/drawing1.xml", "[Content_Types].xml"):
            ElementTree.fromstring(z.read(name))  # well-formed
        trend = z.read("xl/charts/chart2.xml").decode()
        assert "<c:barChart>" in trend and "<c:lineChart>" in trend
        assert "<c:f>'图'!$C$2:$C$3</c:f>" in trend
    wb2 = load_workbook(BytesIO(content))
    ws = wb2["图"]
    assert ws["B2"].value == 0.5 and ws["B2"].number_format == "0%"
    bar, columns = ws._charts
    assert bar.barDir == "bar" and columns.barDir == "col"
    assert wb2["first"]._charts == []


def test_subclasses_of_cell_types_are_written_as_plain_values() -> None:
    class Kind(enum.StrEnum):
        SICK = "sick"

    wb = xlsx.Workbook()
    wb.add_sheet("s", ["a", "b", "c"], [8, 8, 8]).append([Kind.SICK, True, 3])
    ws = load_workbook(BytesIO(wb.save()))["s"]
    assert [c.value for c in ws[2]] == ["sick", True, 3]
