"""Every text of every catalogue table renders in both languages with the same parameters."""

from __future__ import annotations

import importlib
import pkgutil
import re
import string

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
