"""A small streaming .xlsx writer for the ledger: rows in, one workbook's bytes out.

Why not openpyxl: its write-only mode costs about 110 µs per 12-cell row on the bench machine
whatever values it is fed (it builds a cell object and an lxml element per value), so the
12:00 roll-up, which writes every student into the counselor, college and school ledgers,
spent 20+ s of CPU in openpyxl alone at 67,000 students. This writer appends each row's XML
to a list as text, in the order Excel expects, at about a tenth of that cost.

What it writes, and no more: inline strings (no shared-string table, so memory stays one
sheet's text), numbers, dates and date-times as Excel serial numbers with a date format, a
bold filled header row that is frozen, column widths, and a `quotePrefix` style for text
that a spreadsheet would otherwise read as a formula. The trade-off is that any other cell
feature needs code here; openpyxl remains the reader in the tests, which check that what is
written opens and reads back as written.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

# Excel's day zero for the 1900 date system, as every date after 1900-03-01 counts it.
_EPOCH = datetime(1899, 12, 30)
_EPOCH_ORDINAL = _EPOCH.toordinal()

# Indexes into cellXfs in styles.xml below.
HEADER, DATE, DATETIME, TEXT, PERCENT = 1, 2, 3, 4, 5

DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm"

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "{sheets}"
    '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
    "</Types>"
)
_SHEET_TYPE = (
    '<Override PartName="/xl/worksheets/sheet{n}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
    '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>"
)
_CORE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<dc:creator>classbot</dc:creator></cp:coreProperties>"
)
_APP = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    "<Application>classbot</Application></Properties>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<workbookPr/><bookViews><workbookView activeTab="0"/></bookViews>'
    "<sheets>{sheets}</sheets></workbook>"
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    "{sheets}"
    '<Relationship Id="rIdStyles" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    f'<numFmts count="2"><numFmt numFmtId="164" formatCode="{DATE_FORMAT}"/>'
    f'<numFmt numFmtId="165" formatCode="{TIME_FORMAT}"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b val="1"/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="00DDEBF7"/><bgColor indexed="64"/>'
    "</patternFill></fill></fills>"
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="6">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1" '
    'applyAlignment="1"><alignment horizontal="center"/></xf>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    '<xf numFmtId="9" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheetViews><sheetView workbookViewId="0">'
    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
    '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
    '<sheetFormatPr defaultRowHeight="15"/>'
    "{cols}<sheetData>"
)
_SHEET_TAIL = "</sheetData></worksheet>"
_SHEET_TAIL_DRAWING = '</sheetData><drawing r:id="rId1"/></worksheet>'
_DRAWING_TYPE = (
    '<Override PartName="/xl/drawings/drawing{n}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.drawing+xml"/>'
)
_CHART_TYPE = (
    '<Override PartName="/xl/charts/chart{n}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.drawingml.chart+xml"/>'
)
_REL = '<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}" Target="{target}"/>'
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    "{rels}</Relationships>"
)
_DRAWING = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
    'xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart">{anchors}</xdr:wsDr>'
)
_ANCHOR = (
    "<xdr:twoCellAnchor>"
    "<xdr:from><xdr:col>{c1}</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>{r1}</xdr:row>"
    "<xdr:rowOff>0</xdr:rowOff></xdr:from>"
    "<xdr:to><xdr:col>{c2}</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>{r2}</xdr:row>"
    "<xdr:rowOff>0</xdr:rowOff></xdr:to>"
    '<xdr:graphicFrame macro=""><xdr:nvGraphicFramePr><xdr:cNvPr id="{id}" name="Chart {id}"/>'
    "<xdr:cNvGraphicFramePr/></xdr:nvGraphicFramePr>"
    '<xdr:xfrm><a:off x="0" y="0"/><a:ext cx="0" cy="0"/></xdr:xfrm>'
    '<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/chart">'
    '<c:chart r:id="rId{rid}"/></a:graphicData></a:graphic></xdr:graphicFrame>'
    "<xdr:clientData/></xdr:twoCellAnchor>"
)
_CHART_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<c:roundedCorners val="0"/><c:chart>'
    "<c:title><c:tx><c:rich><a:bodyPr/><a:p><a:r><a:t>{title}</a:t></a:r></a:p></c:rich></c:tx>"
    '<c:overlay val="0"/></c:title><c:autoTitleDeleted val="0"/><c:plotArea><c:layout/>'
)
_CHART_TAIL = (
    '</c:plotArea><c:legend><c:legendPos val="b"/><c:overlay val="0"/></c:legend>'
    '<c:plotVisOnly val="1"/></c:chart></c:chartSpace>'
)
_ESCAPES = {'"': "&quot;"}


def excel_serial(value: date) -> float | int:
    """Days since Excel's epoch; a naive datetime is taken as the wall-clock time it shows."""
    if isinstance(value, datetime):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        fraction = (seconds + value.microsecond / 1e6) / 86400
        return value.toordinal() - _EPOCH_ORDINAL + fraction
    return value.toordinal() - _EPOCH_ORDINAL


class Percent(float):
    """A share (0.95) that the cell shows as a percentage (95%)."""


@dataclass(frozen=True)
class Series:
    """One series of a chart: the cell holding its name and the cells of its values."""

    name: str
    values: str
    # A line on the right-hand percentage axis, over the columns (the trend's completion).
    line: bool = False


@dataclass(frozen=True)
class Chart:
    """A native Excel chart drawn from cells of the sheet it sits on (Excel draws it).

    `horizontal` bars suit many classes; otherwise columns, with any `line` series on a
    0–100% axis of their own. `anchor` is (first column, first row, last column, last row),
    counted from 0.
    """

    title: str
    categories: str
    series: tuple[Series, ...]
    anchor: tuple[int, int, int, int]
    horizontal: bool = False
    percent: bool = False


def _absolute(sheet: str, cells: str) -> str:
    parts = []
    for ref in cells.split(":"):
        col = ref.rstrip("0123456789")
        parts.append(f"${col}${ref[len(col) :]}")
    return f"{_quote_sheet(sheet)}!{':'.join(parts)}"


def _quote_sheet(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def chart_xml(sheet: str, chart: Chart) -> str:
    """The DrawingML of one chart whose data sits on `sheet`."""

    def ser(i: int, s: Series) -> str:
        shape = "" if not s.line else '<c:marker><c:symbol val="circle"/></c:marker>'
        return (
            f'<c:ser><c:idx val="{i}"/><c:order val="{i}"/>'
            f"<c:tx><c:strRef><c:f>{escape(_absolute(sheet, s.name))}</c:f></c:strRef></c:tx>"
            f"{shape}<c:cat><c:strRef><c:f>{escape(_absolute(sheet, chart.categories))}</c:f>"
            f"</c:strRef></c:cat><c:val><c:numRef><c:f>{escape(_absolute(sheet, s.values))}"
            "</c:f></c:numRef></c:val>" + ('<c:smooth val="0"/>' if s.line else "") + "</c:ser>"
        )

    indexed = list(enumerate(chart.series))
    bars = [ser(i, s) for i, s in indexed if not s.line]
    lines = [ser(i, s) for i, s in indexed if s.line]
    percent = '<c:numFmt formatCode="0%" sourceLinked="0"/>'
    scale_pct = (
        '<c:scaling><c:orientation val="minMax"/><c:max val="1"/><c:min val="0"/></c:scaling>'
    )
    scale = '<c:scaling><c:orientation val="minMax"/></c:scaling>'
    out = [_CHART_HEAD.format(title=escape(chart.title))]
    if bars:
        direction = "bar" if chart.horizontal else "col"
        out.append(
            f'<c:barChart><c:barDir val="{direction}"/><c:grouping val="clustered"/>'
            f'<c:varyColors val="0"/>{"".join(bars)}<c:gapWidth val="60"/>'
            '<c:axId val="1001"/><c:axId val="1002"/></c:barChart>'
        )
    if lines:
        out.append(
            '<c:lineChart><c:grouping val="standard"/><c:varyColors val="0"/>'
            f'{"".join(lines)}<c:marker val="1"/>'
            '<c:axId val="2001"/><c:axId val="2002"/></c:lineChart>'
        )
    if bars:
        out.append(
            '<c:catAx><c:axId val="1001"/>' + scale + '<c:delete val="0"/>'
            f'<c:axPos val="{"l" if chart.horizontal else "b"}"/><c:tickLblPos val="nextTo"/>'
            '<c:crossAx val="1002"/><c:crosses val="autoZero"/><c:auto val="1"/>'
            '<c:lblAlgn val="ctr"/><c:lblOffset val="100"/></c:catAx>'
            '<c:valAx><c:axId val="1002"/>'
            + (scale_pct if chart.percent else scale)
            + '<c:delete val="0"/><c:axPos val="'
            + ("b" if chart.horizontal else "l")
            + '"/><c:majorGridlines/>'
            + (percent if chart.percent else '<c:numFmt formatCode="0" sourceLinked="0"/>')
            + '<c:tickLblPos val="nextTo"/><c:crossAx val="1001"/><c:crosses val="autoZero"/>'
            '<c:crossBetween val="between"/></c:valAx>'
        )
    if lines:
        # The line's own axes: categories hidden (the columns show them), 0–100% on the right.
        out.append(
            '<c:catAx><c:axId val="2001"/>' + scale + f'<c:delete val="{1 if bars else 0}"/>'
            '<c:axPos val="b"/><c:tickLblPos val="nextTo"/><c:crossAx val="2002"/>'
            '<c:crosses val="autoZero"/><c:auto val="1"/><c:lblAlgn val="ctr"/>'
            '<c:lblOffset val="100"/></c:catAx>'
            '<c:valAx><c:axId val="2002"/>' + scale_pct + '<c:delete val="0"/>'
            f'<c:axPos val="{"r" if bars else "l"}"/>{percent}<c:tickLblPos val="nextTo"/>'
            f'<c:crossAx val="2001"/><c:crosses val="{"max" if bars else "autoZero"}"/>'
            '<c:crossBetween val="between"/></c:valAx>'
        )
    out.append(_CHART_TAIL)
    return "".join(out)


# Text that a spreadsheet would take for a formula: = + - @ (also full-width), tab, CR.
FORMULA_START = tuple("=+-@＝＋－＠\t\r")
# Rows kept as text before they go on to the compressor.
_FLUSH_ROWS = 512
# Distinct short texts remembered per sheet.
_TEXT_CACHE = 8192
# zlib level 1 rather than the default 6: a quarter less time per row, a file about 12% larger.
_LEVEL = 1


class Sheet:
    """One worksheet, streamed into its workbook's zip entry as rows are appended."""

    def __init__(
        self, stream: IO[bytes], title: str, headers: Sequence[str], widths: Sequence[float]
    ) -> None:
        self.title = title
        self.rows = 0
        self.charts: list[Chart] = []
        self._stream: IO[bytes] | None = stream
        self._cells: list[str] = []
        self._parts: list[str] = []
        self._text: dict[str, str] = {}
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
            for i, w in enumerate(widths, start=1)
        )
        self._parts.append(_SHEET_HEAD.format(cols=f"<cols>{cols}</cols>" if cols else ""))
        self._write(headers, 1, header=True)

    def append(self, values: Sequence[Any]) -> None:
        """Add a data row: str, int, float, date, naive datetime, or None ("") for a blank.

        Strings are written as given: the caller makes them fit a cell (see ledger.safe_text).
        """
        self.rows += 1
        self._write(values, self.rows + 1, header=False)
        if len(self._parts) >= _FLUSH_ROWS:
            self._flush()

    def _write(self, values: Sequence[Any], n: int, *, header: bool) -> None:
        while len(self._cells) < len(values):
            self._cells.append(f'<c r="{get_column_letter(len(self._cells) + 1)}')
        # Each cell is its column's opening, the row number, then a body kept per text.
        ref = f'{n}"'
        out = [f'<row r="{n}">']
        add = out.append
        text = self._text
        for cell, value in zip(self._cells, values, strict=False):
            if value is None:
                continue
            kind = type(value)
            if kind not in _PLAIN:
                if kind is Percent:
                    add(f'{cell}{ref} t="n" s="{PERCENT}"><v>{float(value)!r}</v></c>')
                    continue
                value = _plain(value)
                kind = type(value)
            if kind is str:
                if not value:
                    # Blank, as openpyxl writes it: an empty text cell reads back as None.
                    continue
                if header:
                    add(
                        f'{cell}{ref} t="inlineStr" s="{HEADER}"><is><t>{escape(value)}</t></is></c>'
                    )
                else:
                    add(cell + ref + (text.get(value) or self._text_cell(value)))
            elif kind is float or kind is int:
                add(f'{cell}{ref} t="n"><v>{value!r}</v></c>')
            elif kind is datetime:
                if value.tzinfo is not None:
                    raise TypeError("Excel has no time zones: write a naive local datetime")
                add(f'{cell}{ref} t="n" s="{DATETIME}"><v>{excel_serial(value)!r}</v></c>')
            elif kind is date:
                add(f'{cell}{ref} t="n" s="{DATE}"><v>{excel_serial(value)}</v></c>')
            else:
                add(f'{cell}{ref} t="b"><v>{int(value)}</v></c>')
        out.append("</row>")
        self._parts.append("".join(out))

    def _text_cell(self, value: str) -> str:
        """A text cell after its reference; short, repeated texts (codes, names) are kept."""
        style = f' s="{TEXT}"' if value.startswith(FORMULA_START) else ""
        space = ' xml:space="preserve"' if value[:1].isspace() or value[-1:].isspace() else ""
        body = f' t="inlineStr"{style}><is><t{space}>{escape(value)}</t></is></c>'
        if len(value) <= 32 and len(self._text) < _TEXT_CACHE:
            self._text[value] = body
        return body

    def _flush(self) -> None:
        assert self._stream is not None, f"sheet {self.title} is already closed"
        self._stream.write("".join(self._parts).encode())
        self._parts.clear()

    def abandon(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def add_chart(self, chart: Chart) -> None:
        """Place a chart on this sheet, drawn from its cells; before the sheet is finished."""
        assert self._stream is not None, f"sheet {self.title} is already closed"
        self.charts.append(chart)

    def close(self) -> None:
        if self._stream is None:
            return
        self._parts.append(_SHEET_TAIL_DRAWING if self.charts else _SHEET_TAIL)
        self._flush()
        self._stream.close()
        self._stream = None


class Workbook:
    """Sheets are written one after another: adding a sheet finishes the one before it."""

    def __init__(self) -> None:
        self.sheets: list[Sheet] = []
        self._buf = io.BytesIO()
        self._zip = zipfile.ZipFile(self._buf, "w", zipfile.ZIP_DEFLATED, compresslevel=_LEVEL)

    def add_sheet(self, title: str, headers: Sequence[str], widths: Sequence[float]) -> Sheet:
        if self.sheets:
            self.sheets[-1].close()
        name = f"xl/worksheets/sheet{len(self.sheets) + 1}.xml"
        sheet = Sheet(self._zip.open(name, "w"), title, headers, widths)
        self.sheets.append(sheet)
        return sheet

    def close(self) -> None:
        """Drop an unfinished workbook (after an error); a no-op once saved."""
        if self.sheets:
            self.sheets[-1].abandon()
        self._zip.close()

    def save(self) -> bytes:
        """Finish the workbook and return its bytes; the workbook is closed afterwards."""
        if self.sheets:
            self.sheets[-1].close()
        n = range(1, len(self.sheets) + 1)
        z = self._zip
        overrides = [_SHEET_TYPE.format(n=i) for i in n]
        drawings = 0
        charts = 0
        for i, sheet in zip(n, self.sheets, strict=True):
            if not sheet.charts:
                continue
            drawings += 1
            overrides.append(_DRAWING_TYPE.format(n=drawings))
            z.writestr(
                f"xl/worksheets/_rels/sheet{i}.xml.rels",
                _RELS.format(
                    rels=_REL.format(
                        i=1, kind="drawing", target=f"../drawings/drawing{drawings}.xml"
                    )
                ),
            )
            anchors, rels = [], []
            for k, chart in enumerate(sheet.charts, start=1):
                charts += 1
                overrides.append(_CHART_TYPE.format(n=charts))
                z.writestr(f"xl/charts/chart{charts}.xml", chart_xml(sheet.title, chart))
                rels.append(_REL.format(i=k, kind="chart", target=f"../charts/chart{charts}.xml"))
                c1, r1, c2, r2 = chart.anchor
                anchors.append(_ANCHOR.format(c1=c1, r1=r1, c2=c2, r2=r2, id=k + 1, rid=k))
            z.writestr(
                f"xl/drawings/drawing{drawings}.xml", _DRAWING.format(anchors="".join(anchors))
            )
            z.writestr(
                f"xl/drawings/_rels/drawing{drawings}.xml.rels", _RELS.format(rels="".join(rels))
            )
        z.writestr("[Content_Types].xml", _CONTENT_TYPES.format(sheets="".join(overrides)))
        z.writestr("_rels/.rels", _ROOT_RELS)
        z.writestr("docProps/core.xml", _CORE)
        z.writestr("docProps/app.xml", _APP)
        z.writestr(
            "xl/workbook.xml",
            _WORKBOOK.format(
                sheets="".join(
                    f'<sheet name={_attr(s.title)} sheetId="{i}" r:id="rId{i}"/>'
                    for i, s in zip(n, self.sheets, strict=True)
                )
            ),
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            _WORKBOOK_RELS.format(
                sheets="".join(
                    f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/'
                    f'officeDocument/2006/relationships/worksheet" '
                    f'Target="worksheets/sheet{i}.xml"/>'
                    for i in n
                )
            ),
        )
        z.writestr("xl/styles.xml", _STYLES)
        z.close()
        return self._buf.getvalue()


_PLAIN = frozenset({str, int, float, bool, datetime, date})


def _plain(value: Any) -> Any:
    """A subclass of a cell type (a StrEnum, say) as the plain value it stands for."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime):
        return datetime(*value.timetuple()[:6], value.microsecond, value.tzinfo)
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    raise TypeError(f"cannot write {type(value).__name__} to a cell")


def _attr(value: str) -> str:
    return '"' + escape(value, _ESCAPES) + '"'
