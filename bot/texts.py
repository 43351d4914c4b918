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
        return (self.en if lang == "en" else self.zh).format(**resolve(params, lang))

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
    """Parameters with every phrase among them rendered in `lang`. A value whose type has an
    `in_language(lang)` method (a count with its own words) is rendered by it."""
    return {k: _in(v, lang) for k, v in params.items()}


def _in(value: object, lang: str) -> object:
    if isinstance(value, (Phrase, PerLanguage)):
        return value(lang)
    render = getattr(type(value), "in_language", None)
    return render(value, lang) if render is not None else value


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


def catalogues() -> list[type[Catalogue]]:
    """Every table defined by the modules imported so far (for the completeness test)."""
    found: list[type[Catalogue]] = []
    todo = list(Catalogue.__subclasses__())
    while todo:
        klass = todo.pop()
        found.append(klass)
        todo.extend(klass.__subclasses__())
    return sorted(found, key=lambda k: (k.__module__, k.__qualname__))
