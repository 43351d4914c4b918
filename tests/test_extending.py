"""docs/extending.md: the request kind it shows, run exactly as written there. A student
raises a 诉求, a counselor closes it, and the kind appears wherever registered kinds do."""

from __future__ import annotations

import re
import sys
import types
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.adapters.testing import TestAdapter
from bot.app import App
from storage import ledger, reports
from storage.workflows import WORKFLOWS
from tests.handlers.people import private_to

DOC = Path(__file__).parent.parent / "docs" / "extending.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def load(name: str, source: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(source, f"docs/extending.md:{name}", "exec"), module.__dict__)
    return module


def non_blank(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip())


@pytest.fixture
def matters(app: App, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    declaration, _registration, handler, _wiring = blocks()
    kind = load("storage.matters", declaration, monkeypatch).MATTER
    feature = load("handlers.matters", handler, monkeypatch)
    # The product's own 诉求 feature makes way for the doc's, which is registered and wired
    # as the doc says: storage/workflows.py and bot/app.py.
    from handlers import matters as product

    others = tuple(k for k in WORKFLOWS.kinds if k.name != kind.name)
    monkeypatch.setattr(WORKFLOWS, "kinds", (*others, kind))
    d = app.dispatcher
    ours = set(map(id, product.router.commands))
    monkeypatch.setattr(d, "commands", [c for c in d.commands if id(c) not in ours])
    monkeypatch.setattr(d, "_by_word", {w: c for w, c in d._by_word.items() if id(c) not in ours})
    monkeypatch.setattr(
        d, "mine_sections", [m for m in d.mine_sections if m is not product.mine_lines]
    )
    d.install(feature.FEATURE)
    return feature


def test_the_doc_states_the_line_counts_of_its_blocks() -> None:
    declaration, _, handler, _ = blocks()
    text = DOC.read_text(encoding="utf-8")
    assert f"| the declaration (`storage/matters.py`) | {non_blank(declaration)} |" in text
    assert f"| its texts and formatting (`handlers/matters.py`) | {non_blank(handler)} |" in text


async def test_the_documented_kind_runs_end_to_end(
    app: App, bot: TestAdapter, matters: types.ModuleType
) -> None:
    [reply] = private_to(await bot.say("2020001", "反映 宿舍热水坏了三天"), "2020001")
    assert reply.text == "✓ 已收到诉求 Q1。"
    day = app.clock.now().astimezone(app.config.tz).date()
    with app.uow(readonly=True) as s:
        [summary] = [c for c in reports.summaries(s, day, None) if c.code == "护理172"]
        assert summary.pending["matter"] == 1
        assert [p.ref for p in reports.pending_requests(s, None)] == ["Q1"]

    sent = await bot.say("T001", "办结 Q1 已报修，今天修好")
    assert private_to(sent, "T001")[0].text == "✓ 已办结 Q1。"
    assert private_to(sent, "2020001")[0].text == "✅ 你的诉求 Q1 已办结。"
    [again] = private_to(await bot.say("T001", "办结 Q1 再办一次"), "T001")
    assert again.text == "Q1 当前状态是「已办结」，不能再办结。"

    [mine] = private_to(await bot.say("2020001", "我的"), "2020001")
    assert "诉求：\n  Q1 已办结" in mine.text
    with app.uow(readonly=True) as s:
        book = ledger.build(s, day, ledger.SCHOOL, app.config.tz)
    rows = list(load_workbook(BytesIO(book.content))["诉求"].iter_rows(values_only=True))
    assert rows[1][:6] == ("Q1", "医学院", "护理172", "2020001", "张晓明", "宿舍热水坏了三天")
    assert rows[1][6] == "已办结"


async def test_the_documented_kind_refuses_a_group_and_other_roles(
    bot: TestAdapter, matters: types.ModuleType
) -> None:
    [reply] = await bot.say("2020001", "反映 宿舍热水坏了", group="护理172")
    assert "私聊" in reply.text
    await bot.say("2020001", "反映 宿舍热水坏了")
    [refused] = private_to(await bot.say("2020003", "办结 Q1 好了"), "2020003")
    assert "没有权限" in refused.text
