"""Keywords about an article's subject, and its lead summary.

Keywords are the nouns and adjective-noun or noun-noun phrases the article repeats (from
the tagger), weighted up when the title or the lead uses them. Names are left out (they
have their own field), and so are reporting nouns, dates and page furniture.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from services.extract.text import sentences
from shared.schemas import Dateline, Entity

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

_NOUNS = frozenset({"NN", "NNS"})
_MODIFIERS = frozenset({"NN", "NNS", "JJ"})
_IGNORED = frozenset(
    str.split(
        # reporting and newsroom words
        "reporters report reports statement statements words interview news agency "
        # page furniture
        "share tweet email print comment comments subscribe newsletter click advertisement "
        "photo photos video image copyright rights story stories page "
        # dates and filler
        "today yesterday week weeks year years month months time times day days thing things "
        "way ways lot part number moment"
    )
)
_TITLE_WEIGHT = 2.0
_LEAD_WEIGHT = 1.5
_PHRASE_WEIGHT = 1.5
_MIN_SCORE = 2.0
KEYWORD_COUNT = 8
SUMMARY_SENTENCES = 2
SUMMARY_MAX_CHARS = 400


def _word(token: Token) -> str:
    return token.text.lower().replace("’", "'")


def keywords(
    doc: Doc, entities: list[Entity], title: str | None = None, limit: int = KEYWORD_COUNT
) -> list[str]:
    """Up to `limit` keywords, most telling first."""
    named = {offset for e in entities for m in e.mentions for offset in range(m.start, m.end)}
    text = doc.text
    lead_end = len(text) // 5
    title_words = set((title or "").lower().split())
    scores: defaultdict[str, float] = defaultdict(float)

    def usable(token: Token, tags: frozenset[str]) -> bool:
        return (
            token.tag_ in tags
            and token.idx not in named
            and token.is_alpha
            and len(token.text) > 2
            and not token.is_stop
            and _word(token) not in _IGNORED
        )

    for token in doc:
        if not usable(token, _NOUNS):
            continue
        word = _word(token)
        weight = _LEAD_WEIGHT if token.idx < lead_end else 1.0
        if word in title_words:
            weight *= _TITLE_WEIGHT
        scores[word] += weight
        if token.i > 0 and usable(previous := doc[token.i - 1], _MODIFIERS):
            phrase = f"{_word(previous)} {word}"
            scores[phrase] += weight * _PHRASE_WEIGHT
    ranked = sorted(
        ((score, word) for word, score in scores.items() if score >= _MIN_SCORE * _weight(word)),
        key=lambda item: (-item[0], item[1]),
    )
    chosen: list[str] = []
    for _, word in ranked:
        if any(set(word.split()) & set(other.split()) for other in chosen):
            continue
        chosen.append(word)
        if len(chosen) == limit:
            break
    return chosen


def _weight(word: str) -> float:
    return _PHRASE_WEIGHT if " " in word else 1.0


def lead_summary(text: str, title: str | None, dateline: Dateline | None) -> str | None:
    """The first sentences after the dateline (or after the title line when the text opens
    with it), up to SUMMARY_MAX_CHARS."""
    start = dateline.end if dateline else 0
    if not dateline and title and text.startswith(title.strip()):
        start = len(title.strip())
    picked: list[str] = []
    for sentence_start, sentence_end in sentences(text):
        if sentence_end <= start:
            continue
        piece = text[max(sentence_start, start) : sentence_end].strip()
        if not piece or (not picked and _looks_like_heading(piece)):
            continue
        if picked and len(" ".join([*picked, piece])) > SUMMARY_MAX_CHARS:
            break
        picked.append(piece)
        if len(picked) == SUMMARY_SENTENCES:
            break
    summary = " ".join(picked)
    return summary[:SUMMARY_MAX_CHARS] if summary else None


def _looks_like_heading(piece: str) -> bool:
    return not piece.endswith((".", "!", "?", "”", '"'))
