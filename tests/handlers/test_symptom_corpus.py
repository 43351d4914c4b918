"""The symptom corpus: real phrasings of check-ins and the symptoms each must read as."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import CheckinSection
from handlers.symptoms import read_checkin

CORPUS = Path(__file__).with_name("symptom_corpus.tsv")


def corpus() -> list[tuple[str, tuple[str, ...]]]:
    out = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        phrase, expected = line.split("\t")
        out.append((phrase, () if expected == "-" else tuple(expected.split("、"))))
    return out


def test_the_corpus_holds_at_least_60_phrasings() -> None:
    assert len(corpus()) >= 60


@pytest.mark.parametrize(("phrase", "expected"), corpus())
def test_phrasing_reads_as_the_expected_symptoms(phrase: str, expected: tuple[str, ...]) -> None:
    assert read_checkin(f"36.5 {phrase}", CheckinSection()).symptoms == expected
