"""Charts of the roll-up as PNG: completion by class (or college), and the 14-day trend.

Drawn with Pillow rather than matplotlib: two plain chart shapes need no plotting library,
Pillow is one wheel with no dependencies of its own, and a chart costs a few milliseconds
instead of matplotlib's import of about a second and tens of milliseconds per figure
(docs/performance.md). Chinese labels need a CJK font from the system (Debian:
fonts-noto-cjk or fonts-wqy-microhei); without one the charts are drawn with ASCII labels
and `font_warning` says so at start.
"""

from __future__ import annotations

import functools
import glob
import io
import logging
import os
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from PIL import Image, ImageDraw, ImageFont

from bot.texts import Catalogue, Text, both_languages
from storage import reports

log = logging.getLogger(__name__)

# Where Debian, Ubuntu, Fedora and Alpine put the common CJK fonts; the first found is used.
FONT_PATTERNS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/**/NotoSansCJK*.ttc",
    "/usr/share/fonts/**/NotoSansSC*.otf",
    "/usr/share/fonts/**/wqy-*.ttc",
    "/usr/share/fonts/**/SourceHanSans*.ttc",
)
FONT_ENV = "CLASSBOT_CJK_FONT"

WIDTH = 960
BAR_BLUE = (59, 130, 246)
BAR_AMBER = (245, 158, 11)
BAR_RED = (248, 113, 113)
LINE_GREEN = (22, 163, 74)
GRID = (229, 231, 235)
INK = (31, 41, 55)
MUTED = (107, 114, 128)
# Past this the bars of a big college would be too thin to read: the lowest are shown.
MAX_BARS = 40


@dataclass(frozen=True)
class Completion:
    """One bar: a class or a college, how many checked in of how many should."""

    label: str
    done: int
    expected: int

    @property
    def rate(self) -> float:
        return self.done / self.expected if self.expected else 1.0


@dataclass(frozen=True)
class TrendPoint:
    """One day of the trend: completion and the number of abnormal check-ins."""

    day: date
    done: int
    expected: int
    abnormal: int

    @property
    def rate(self) -> float:
        return self.done / self.expected if self.expected else 0.0


def trend_points(
    counts: Mapping[tuple[int, date], reports.DayCounts],
    summaries: Collection[reports.ClassSummary],
    last: date,
    days: int = reports.TREND_DAYS,
) -> list[TrendPoint]:
    """The trend of these classes' completion and abnormal counts, `days` days to `last`."""
    expected = sum(s.roster for s in summaries)
    out = []
    for n in range(days - 1, -1, -1):
        day = last - timedelta(days=n)
        done = abnormal = 0
        for s in summaries:
            c = counts.get((s.class_id, day))
            if c is not None:
                done += c.checked_in
                abnormal += c.abnormal
        out.append(TrendPoint(day, done, expected, abnormal))
    return out


def completion_bars(
    summaries: Collection[reports.ClassSummary], *, by_college: bool
) -> list[Completion]:
    """One bar per class, or per college; students on leave are not expected to check in."""
    if not by_college:
        return [Completion(s.code, s.checked_in, s.checked_in + s.missing) for s in summaries]
    grouped: dict[str, list[reports.ClassSummary]] = defaultdict(list)
    for s in summaries:
        grouped[s.college].append(s)
    return [
        Completion(
            name, sum(s.checked_in for s in items), sum(s.checked_in + s.missing for s in items)
        )
        for name, items in grouped.items()
    ]


@dataclass(frozen=True)
class ChartData:
    """What a scope's charts show: completion bars and the trend."""

    bars: Sequence[Completion]
    trend: Sequence[TrendPoint]
    by_college: bool = False


def chart_data(
    summaries: Collection[reports.ClassSummary],
    counts: Mapping[tuple[int, date], reports.DayCounts],
    day: date,
    *,
    by_college: bool = False,
) -> ChartData:
    return ChartData(
        completion_bars(summaries, by_college=by_college),
        trend_points(counts, summaries, day),
        by_college,
    )


@functools.cache
def cjk_font_path() -> str | None:
    """The CJK font charts use, or None when the system has none."""
    chosen = os.environ.get(FONT_ENV)
    if chosen:
        return chosen if os.path.exists(chosen) else None
    for pattern in FONT_PATTERNS:
        found = sorted(glob.glob(pattern, recursive=True))
        if found:
            return found[0]
    return None


def font_warning() -> str | None:
    """The start-up warning of a deployment without a CJK font, or None when it has one."""
    if cjk_font_path() is not None:
        return None
    return both_languages(ChartTexts.no_font, env=FONT_ENV)


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = cjk_font_path()
    if path is not None:
        # Basic layout: Chinese and Latin labels need no shaping, and libraqm's is six times
        # slower per label.
        return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)
    return ImageFont.load_default(size)


class ChartTexts(Catalogue):
    no_font = Text(
        "没有找到中文字体，统计图将只用英文标注。"
        "请安装 fonts-noto-cjk 或 fonts-wqy-microhei（Debian/Ubuntu：apt-get install "
        "fonts-wqy-microhei），或用 {env} 指定字体文件。",
        "No CJK font found: charts get ASCII-only labels (install one, or set {env}).",
    )
    title = Text("每日打卡", "Daily check-in")
    trend_title = Text("打卡趋势", "Check-in trend")
    completion_by_college = Text("各学院打卡完成率", "Completion by college")
    completion_by_class = Text("各班打卡完成率", "Completion by class")
    lowest = Text("（完成率最低的 {count} 个）", " (the lowest {count})")
    no_classes = Text("（没有班级）", "(no classes)")
    trend = Text(
        "近 {days} 天：完成率（绿线）与异常人数（红柱）",
        "Last {days} days: completion (line), abnormal (bars)",
    )


class _Labels:
    """Labels in the chart's language; without a CJK font, English titles and numbered bars."""

    def __init__(self, lang: str = "zh") -> None:
        self.cjk = cjk_font_path() is not None
        self.lang = lang if self.cjk else "en"

    def pick(self, title: str, fallback: Text) -> str:
        """A title given by the caller, or `fallback` where the font cannot draw it."""
        return title if self.cjk or title.isascii() else fallback("en")

    def text(self, text: Text, **params: object) -> str:
        return text(self.lang, **params)

    def bar(self, label: str, i: int) -> str:
        return label if self.cjk or label.isascii() else f"#{i + 1}"


def rollup_png(
    title: str,
    bars: Sequence[Completion],
    trend: Sequence[TrendPoint],
    *,
    by_college: bool = False,
    lang: str = "zh",
) -> bytes:
    """The admins' chart: completion by class (or college) above the 14-day trend."""
    labels = _Labels(lang)
    shown = sorted(bars, key=lambda b: (b.rate, b.label))[:MAX_BARS]
    shown.sort(key=lambda b: b.label)
    bar_height = max(140, 40 + 24 * len(shown))
    height = 70 + bar_height + 40 + 300
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((24, 18), labels.pick(title, ChartTexts.title), font=_font(26), fill=INK)
    subtitle = labels.text(
        ChartTexts.completion_by_college if by_college else ChartTexts.completion_by_class
    )
    if len(bars) > len(shown):
        subtitle += labels.text(ChartTexts.lowest, count=len(shown))
    _bars(draw, labels, shown, 70, bar_height, subtitle)
    _trend(draw, labels, trend, 70 + bar_height + 40, 300)
    return _png(image)


def trend_png(title: str, trend: Sequence[TrendPoint], lang: str = "zh") -> bytes:
    """The counselor's chart: the 14-day trend of their classes."""
    labels = _Labels(lang)
    image = Image.new("RGB", (WIDTH, 380), "white")
    draw = ImageDraw.Draw(image)
    draw.text((24, 18), labels.pick(title, ChartTexts.trend_title), font=_font(26), fill=INK)
    _trend(draw, labels, trend, 70, 300)
    return _png(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # Level 1: about half the default's time for a file 15% larger (some 60 KB).
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _bars(
    draw: ImageDraw.ImageDraw,
    labels: _Labels,
    bars: Sequence[Completion],
    top: int,
    height: int,
    subtitle: str,
) -> None:
    small = _font(15)
    draw.text((24, top), subtitle, font=_font(18), fill=INK)
    left, right = 170, WIDTH - 110
    area_top = top + 34
    if not bars:
        draw.text(
            (left, area_top + 20),
            labels.text(ChartTexts.no_classes),
            font=small,
            fill=MUTED,
        )
        return
    step = (height - 40) / len(bars)
    for pct in (0, 50, 100):
        x = left + (right - left) * pct / 100
        draw.line([(x, area_top), (x, area_top + step * len(bars))], fill=GRID, width=1)
        draw.text((x - 12, area_top + step * len(bars) + 4), f"{pct}%", font=small, fill=MUTED)
    thickness = max(4, min(16, int(step * 0.7)))
    for i, b in enumerate(bars):
        y = area_top + step * i + (step - thickness) / 2
        name = labels.bar(b.label, i)
        draw.text((24, y - 2), name[:10], font=small, fill=INK)
        x = left + (right - left) * b.rate
        colour = BAR_BLUE if b.rate >= 0.9 else BAR_AMBER
        draw.rectangle([(left, y), (max(left + 1, x), y + thickness)], fill=colour)
        draw.text((x + 6, y - 2), f"{b.done}/{b.expected}", font=small, fill=MUTED)


def _trend(
    draw: ImageDraw.ImageDraw,
    labels: _Labels,
    trend: Sequence[TrendPoint],
    top: int,
    height: int,
) -> None:
    small = _font(14)
    days = len(trend)
    title = labels.text(ChartTexts.trend, days=days)
    draw.text((24, top), title, font=_font(18), fill=INK)
    left, right = 70, WIDTH - 70
    area_top, area_bottom = top + 40, top + height - 40
    span = area_bottom - area_top
    for pct in (0, 50, 100):
        y = area_bottom - span * pct / 100
        draw.line([(left, y), (right, y)], fill=GRID, width=1)
        draw.text((16, y - 8), f"{pct}%", font=small, fill=LINE_GREEN)
    if not trend:
        return
    most = max(1, max(p.abnormal for p in trend))
    draw.text((right + 8, area_top - 8), str(most), font=small, fill=BAR_RED)
    draw.text((right + 8, area_bottom - 8), "0", font=small, fill=BAR_RED)
    step = (right - left) / days
    points = []
    for i, p in enumerate(trend):
        cx = left + step * (i + 0.5)
        if p.abnormal:
            h = span * p.abnormal / most
            draw.rectangle(
                [(cx - step * 0.25, area_bottom - h), (cx + step * 0.25, area_bottom)],
                fill=BAR_RED,
            )
        points.append((cx, area_bottom - span * p.rate))
        label = f"{p.day.month}/{p.day.day}"
        draw.text((cx - 14, area_bottom + 6), label, font=small, fill=MUTED)
    if len(points) > 1:
        draw.line(points, fill=LINE_GREEN, width=3)
    for x, y in points:
        draw.ellipse([(x - 4, y - 4), (x + 4, y + 4)], fill=LINE_GREEN)
