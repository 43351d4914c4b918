"""Every text of every catalogue table renders in both languages with the same parameters."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import string
from pathlib import Path

import pytest

from bot.texts import LANGUAGES, Catalogue, Text, catalogues

PACKAGES = ("bot", "handlers", "storage", "schedules")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _import_everything() -> None:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if ".migrations" in info.name or info.name.endswith("__main__"):
                continue
            importlib.import_module(info.name)


def _sample(spec: str) -> object:
    if spec and spec[-1] in "dnxXbco":
        return 3
    if spec and spec[-1] in "eEfFgG%":
        return 0.5
    return "样例"


def _samples(text: Text, lang: str) -> dict[str, object]:
    values: dict[str, object] = {}
    for _, field, spec, _ in string.Formatter().parse(text.raw(lang)):
        if field:
            values[field.split(".")[0].split("[")[0]] = _sample(spec or "")
    return values


def _all_texts() -> list[Text]:
    _import_everything()
    return [text for table in catalogues() for text in table.texts()]


def test_the_project_declares_texts() -> None:
    assert len(_all_texts()) > 0


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_renders(lang: str) -> None:
    for text in _all_texts():
        rendered = text(lang, **_samples(text, lang))
        assert rendered.strip(), text.name


def test_both_languages_take_the_same_parameters() -> None:
    for text in _all_texts():
        assert text.parameters("zh") == text.parameters("en"), text.name


def test_english_texts_are_english() -> None:
    for text in _all_texts():
        assert not CJK.search(text.en), text.name


def test_a_table_lists_its_texts_with_names() -> None:
    class Sample(Catalogue):
        hello = Text("你好，{name}", "Hello, {name}")

    (hello,) = Sample.texts()
    assert hello.name.endswith("Sample.hello")
    assert hello("zh", name="张晓明") == "你好，张晓明"
    assert hello("en", name="Zhang") == "Hello, Zhang"
    assert hello.parameters("zh") == {"name"}


# -- no text outside the catalogue ------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent

# Data, not texts: words the bot reads (the symptom lexicon, role synonyms and category names
# in config defaults), the demo roster, and migrations (which keep the data of their day).
DATA = frozenset(
    {
        "handlers/symptoms.py",
        "storage/demo.py",
    }
)
DATA_DIRS = ("storage/migrations/",)


def _is_docstring(node: ast.AST) -> bool:
    body = getattr(node, "body", None)
    return bool(
        isinstance(body, list)
        and body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )


def _allowed_nodes(tree: ast.Module) -> set[int]:
    """Literals that are no text: docstrings, `Text(...)` entries, the words a command is
    recognised by (`router.command(name, keyword, aliases=..., also_chat=...)`), patterns
    (`re.compile`), and module-level UPPER_CASE collections (the vocabulary the bot reads).
    A plain string is a text even in an UPPER_CASE constant."""
    allowed: set[int] = set()

    def allow(node: ast.AST) -> None:
        allowed.update(id(sub) for sub in ast.walk(node))

    for node in ast.walk(tree):
        if _is_docstring(node):
            allow(node.body[0])  # type: ignore[attr-defined]
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name == "Text":
                allow(node)
            elif name == "command":
                for arg in node.args:
                    allow(arg)
                for kw in node.keywords:
                    if kw.arg in ("aliases", "also_chat"):
                        allow(kw.value)
            elif name in ("compile", "match", "fullmatch", "search", "sub") and node.args:
                allow(node.args[0])
    for stmt in tree.body:
        targets = (
            stmt.targets
            if isinstance(stmt, ast.Assign)
            else [stmt.target]
            if isinstance(stmt, ast.AnnAssign)
            else []
        )
        value = getattr(stmt, "value", None)
        plain_text = isinstance(value, (ast.Constant, ast.JoinedStr))
        if (
            targets
            and not plain_text
            and all(isinstance(t, ast.Name) and t.id.isupper() for t in targets)
        ):
            allow(stmt)
    return allowed


def _chinese_literals(source: str) -> list[str]:
    tree = ast.parse(source)
    allowed = _allowed_nodes(tree)
    return [
        f"{node.lineno}: {node.value[:40]!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and CJK.search(node.value)
        and id(node) not in allowed
    ]


def _production_files() -> list[Path]:
    return sorted(p for name in PACKAGES for p in (ROOT / name).rglob("*.py"))


def test_no_text_outside_the_catalogue() -> None:
    found = []
    for path in _production_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel in DATA or rel.startswith(DATA_DIRS):
            continue
        found += [f"{rel}:{hit}" for hit in _chinese_literals(path.read_text("utf-8"))]
    assert found == [], "texts outside the catalogue:\n" + "\n".join(found)


def test_the_lint_sees_a_chinese_literal() -> None:
    sample = (
        '"""模块说明。"""\n'
        "from bot.texts import Catalogue, Text\n"
        "WORDS = {'图'}\n"
        "HELP = '帮助'\n"
        "class T(Catalogue):\n"
        "    ok = Text('好', 'ok')\n"
        "def f(ctx):\n"
        "    '''说明'''\n"
        "    ctx.reply('已收到')\n"
        "    ctx.reply(f'{ctx}，好')\n"
    )
    assert _chinese_literals(sample) == ["4: '帮助'", "9: '已收到'", "10: '，好'"]


def test_every_data_file_exists() -> None:
    for rel in DATA:
        assert (ROOT / rel).is_file(), rel
