"""Reading a health check-in the way students write it: temperature, symptoms, city, note.

`打卡：36.5`, `打卡 体温 36.5，咳嗽`, `打卡 36.5度 嗓子疼 @武汉 在家休息` all read the same
way; everyday words (发烧, 拉肚子) map to the configured symptoms through a lexicon.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.config import CheckinSection
from storage.errors import BadArguments, OutOfRange, TextTooLong

MAX_NOTE = 200
MAX_CITY = 30
# Words that say "no symptoms" when written where a symptom would be.
NO_SYMPTOMS = frozenset({"无", "没有", "正常", "无症状", "无异常", "一切正常", "none", "no", "ok"})
# A symptom word right after one of these is denied (不发烧, 没有咳嗽, 已退烧)…
_NEGATIONS = ("不", "没", "没有", "无", "未", "别", "退", "非")
# …and right before one of these it is over (发烧已退, 咳嗽好了).
_OVER = ("已退", "退了", "已好", "好了", "已消", "消了", "没了")
# A one-character word (烧, 咳) counts after these, or standing alone.
_SINGLE_PREFIXES = ("有点", "低", "发", "高")

_DIGIT = "0-9０-９"
# A temperature at the start: 36.5, 36,5, ３６．５, with an optional unit.
_TEMP = re.compile(
    rf"([{_DIGIT}]{{1,3}})(?:[.．。,，]([{_DIGIT}]{{1,2}})(?![{_DIGIT}]))?"
    r"(?:\s*(?:摄氏度|℃|°\s*[cC]|°|度|[cC](?![a-zA-Z])))?"
)
# Between the keyword, the placeholder 体温 and the number: 打卡：36.5, 打卡 体温：36.5.
_LEAD = re.compile(r"^[\s\u3000:：,，、;；]*(?:体温[\s\u3000:：]*)?")
_SEPARATORS = "\\s\u3000,，、;；"
_SEGMENT = re.compile(rf"[^{_SEPARATORS}]+")
_NUMBER_ONLY = re.compile(rf"[{_DIGIT}]{{1,3}}(?:[.．。][{_DIGIT}]{{1,2}})?(?:℃|°[cC]?|度|摄氏度)?")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


@dataclass(frozen=True)
class Lexicon:
    """Everyday words → configured symptoms, longest word first."""

    words: tuple[tuple[str, str], ...]
    order: tuple[str, ...]

    @classmethod
    def of(cls, symptoms: Iterable[str], words: Mapping[str, str]) -> Lexicon:
        symptoms = tuple(symptoms)
        table = {_fold(s): s for s in symptoms}
        table.update({_fold(w): s for w, s in words.items()})
        return cls(tuple(sorted(table.items(), key=lambda kv: -len(kv[0]))), symptoms)

    def find(self, text: str) -> tuple[str, ...]:
        """The symptoms `text` reports, in configured order; denied words do not count."""
        folded = _fold(text)
        taken = [False] * len(folded)
        found: set[str] = set()
        for word, symptom in self.words:
            start = folded.find(word)
            while start >= 0:
                end = start + len(word)
                if not any(taken[start:end]) and (len(word) > 1 or _single_ok(folded, start)):
                    # Marked even when denied, so 不发烧 does not count again as 烧.
                    taken[start:end] = [True] * len(word)
                    if not _denied(folded, start, end):
                        found.add(symptom)
                start = folded.find(word, start + 1)
        return tuple(s for s in self.order if s in found)

    def is_word(self, segment: str) -> bool:
        folded = _fold(segment)
        return any(folded == w for w, _ in self.words)


def _single_ok(text: str, at: int) -> bool:
    before = text[:at]
    if before.endswith(_SINGLE_PREFIXES):
        return True
    after = text[at + 1 : at + 2]
    return not (before and _CJK.match(before[-1])) and not (after and _CJK.match(after))


def _denied(text: str, start: int, end: int) -> bool:
    before = text[:start].rstrip()
    return before.endswith(_NEGATIONS) or text[end:].lstrip().startswith(_OVER)


@functools.cache
def _lexicon(symptoms: tuple[str, ...], words: tuple[tuple[str, str], ...]) -> Lexicon:
    return Lexicon.of(symptoms, dict(words))


def lexicon_for(cfg: CheckinSection) -> Lexicon:
    return _lexicon(tuple(cfg.symptoms), tuple(sorted(cfg.symptom_words.items())))


@dataclass(frozen=True)
class Reading:
    """How a check-in was understood."""

    temp_tenths: int
    symptoms: tuple[str, ...]
    city: str | None
    note: str | None


def _unreadable(low: float, high: float) -> BadArguments:
    # The typed value is not echoed: in a group it would be health data.
    return BadArguments(
        f"体温看不懂，请写成数字，单位℃（范围 {low}–{high}℃）。",
        f"Cannot read the temperature; write a number in °C (range {low}–{high} °C).",
    )


def read_checkin(text: str, cfg: CheckinSection) -> Reading:
    """Read the text after 打卡; raises a domain error that shows the right form."""
    low, high = cfg.min_temperature, cfg.max_temperature
    text = _LEAD.sub("", text.strip(), count=1)
    if not text:
        raise BadArguments("请写上体温，例：打卡 36.5", "Please give your temperature.")
    m = _TEMP.match(text)
    if m is None:
        raise _unreadable(low, high)
    rest = text[m.end() :]
    # The number ends at a space, a comma, an @city or a word (37.6咳嗽); not at 36.5.5 or 36.5x.
    if rest and not re.match(rf"[{_SEPARATORS}@＠]|[\u3400-\u9fff]", rest):
        raise _unreadable(low, high)
    whole, tenths = _fold(m.group(1)), _fold(m.group(2) or "0")
    value = float(f"{whole}.{tenths}")
    if not low <= value <= high:
        raise OutOfRange(what="体温", what_en="Temperature", low=f"{low}℃", high=f"{high}℃")
    lexicon = lexicon_for(cfg)
    city, note = _city_and_note(rest, lexicon)
    symptoms = lexicon.find(_without_city(rest))
    return Reading(round(value * 10), symptoms, city, note)


def _without_city(rest: str) -> str:
    return re.sub(r"[@＠][\s\u3000]*[^" + _SEPARATORS + "]*", " ", rest)


def _city_and_note(rest: str, lexicon: Lexicon) -> tuple[str | None, str | None]:
    """The first @city, and what is left as the note once the city, bare symptom words and
    "no symptoms" words are taken out."""
    city: str | None = None
    keep: list[str] = []
    segments = [(m.start(), m.end(), m.group()) for m in _SEGMENT.finditer(rest)]
    i = 0
    while i < len(segments):
        _, _, seg = segments[i]
        i += 1
        if seg[0] in "@＠":
            name = seg[1:]
            if not name and i < len(segments):
                name = segments[i][2]
                i += 1
            if city is None:
                city = name.strip() or None
            continue
        if _NUMBER_ONLY.fullmatch(seg):
            raise BadArguments(
                "只写一个体温：打卡后面的第一个数字是体温，不要再写第二个数字。",
                "Give one temperature only: the first number after the command.",
            )
        folded = _fold(seg)
        if folded in NO_SYMPTOMS or folded in ("症状无", "症状:无") or lexicon.is_word(seg):
            continue
        keep.append(seg)
    note = _rejoin(rest, keep) or None
    if city is not None and len(city) > MAX_CITY:
        raise TextTooLong(what="城市", what_en="City", limit=MAX_CITY)
    if note is not None and len(note) > MAX_NOTE:
        raise TextTooLong(what="备注", what_en="The note", limit=MAX_NOTE)
    return city, note


def _rejoin(rest: str, keep: list[str]) -> str:
    """The kept segments with the spacing and punctuation typed between them."""
    if not keep:
        return ""
    out: list[str] = []
    pos = 0
    for seg in keep:
        at = rest.find(seg, pos)
        if out:
            sep = re.search(rf"[{_SEPARATORS}]+$", rest[:at])
            out.append(sep.group() if sep else " ")
        out.append(seg)
        pos = at + len(seg)
    return "".join(out).strip()
