"""The roll-up charts as PNG: they decode, show what they are given, and fall back to ASCII
labels (with a warning at start) on a system without a CJK font."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from PIL import Image

from bot.clock import ManualClock
from bot.config import Config
from storage import charts
from tests.conftest import start_app

DAY = date(2026, 11, 23)
BARS = [charts.Completion("护理172", 28, 30), charts.Completion("检验172", 15, 30)]
TREND = [charts.TrendPoint(DAY - timedelta(days=13 - i), 50 + i, 60, i % 3) for i in range(14)]


@pytest.fixture
def no_cjk_font(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(charts.FONT_ENV, "/nonexistent/font.ttc")
    charts.cjk_font_path.cache_clear()
    charts._font.cache_clear()
    yield
    monkeypatch.delenv(charts.FONT_ENV)
    charts.cjk_font_path.cache_clear()
    charts._font.cache_clear()


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_the_rollup_chart_is_a_png_with_bars_and_the_trend() -> None:
    image = decode(charts.rollup_png("医学院 11月23日 打卡统计", BARS, TREND))
    assert image.format == "PNG" and image.width == charts.WIDTH
    colours = {c for _, c in image.getcolors(maxcolors=1 << 16) or []}
    # A class under 90% is amber, one above blue; the trend's line is green.
    assert charts.BAR_AMBER in colours and charts.BAR_BLUE in colours
    assert charts.LINE_GREEN in colours and charts.BAR_RED in colours


def test_a_class_at_full_completion_has_no_amber_bar() -> None:
    image = decode(charts.rollup_png("t", [charts.Completion("护理172", 30, 30)], TREND))
    colours = {c for _, c in image.getcolors(maxcolors=1 << 16) or []}
    assert charts.BAR_AMBER not in colours and charts.BAR_BLUE in colours


def test_the_trend_chart_has_no_bars_of_classes() -> None:
    image = decode(charts.trend_png("王芳 11月23日 打卡统计", TREND))
    colours = {c for _, c in image.getcolors(maxcolors=1 << 16) or []}
    assert charts.BAR_BLUE not in colours and charts.LINE_GREEN in colours
    assert image.height < decode(charts.rollup_png("t", BARS, TREND)).height


def test_many_classes_show_the_lowest_completion() -> None:
    many = [charts.Completion(f"C{i:03}", i, 100) for i in range(100)]
    tall = decode(charts.rollup_png("t", many, TREND)).height
    assert tall == decode(charts.rollup_png("t", many[: charts.MAX_BARS], TREND)).height


def test_a_cjk_font_is_found_here() -> None:
    # The CI image installs one (.ci/run); without it this test says so.
    assert charts.cjk_font_path() is not None
    assert charts.font_warning() is None


@pytest.mark.usefixtures("no_cjk_font")
def test_without_a_cjk_font_charts_still_render_with_ascii_labels() -> None:
    assert charts.cjk_font_path() is None
    labels = charts._Labels()
    assert labels.text(charts.ChartTexts.completion_by_class) == "Completion by class"
    assert labels.pick("医学院 打卡统计", charts.ChartTexts.title) == "Daily check-in"
    assert labels.bar("护理172", 0) == "#1" and labels.bar("N172", 0) == "N172"
    assert decode(charts.rollup_png("医学院", BARS, TREND)).format == "PNG"


@pytest.mark.usefixtures("no_cjk_font")
async def test_a_deployment_without_a_cjk_font_is_warned_at_start(
    config: Config, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        app, _ = await start_app(config, clock, seed=False)
    await app.stop()
    app.engine.dispose()
    [warning] = [r.getMessage() for r in caplog.records if r.name == "bot.app"]
    assert "没有找到中文字体" in warning and "fonts-wqy-microhei" in warning


async def test_a_deployment_with_a_cjk_font_is_not_warned(
    config: Config, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        app, _ = await start_app(config, clock, seed=False)
    await app.stop()
    app.engine.dispose()
    assert [r for r in caplog.records if "中文字体" in r.getMessage()] == []
