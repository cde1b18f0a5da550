"""Sentences and quoted passages of an article, as character offsets into its text."""

from __future__ import annotations

import re

QUOTED = re.compile(r"[“\"]([^“”\"\n]+)[”\"]")
_BOUNDARY = re.compile(r"(?<=[.!?])[”\"’']?\s+(?=[“\"A-Z0-9])|\n+")
_ABBREVIATION = re.compile(
    r"(?:\b[A-Z]\.|\b(?:Mr|Mrs|Ms|Dr|St|Gen|Sen|Rep|Gov|Lt|Col|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|"
    r"Sept|Oct|Nov|Dec|No|vs|etc|Inc|Corp|Ltd|Jr|Sr)\.)$"
)


def mask_quotes(text: str) -> str:
    """`text` with the inside of each quotation blanked (same length), so that sentence
    punctuation inside quotes does not split sentences; a final . ! ? is kept."""

    def blank(match: re.Match[str]) -> str:
        inner = match.group(1)
        tail = inner[-1] if inner[-1] in ".!?," else "x"
        return match.group(0)[0] + "x" * (len(inner) - 1) + tail + match.group(0)[-1]

    return QUOTED.sub(blank, text)


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; quotations stay inside the sentence that holds them."""
    masked = mask_quotes(text)
    spans = []
    start = 0
    for match in _BOUNDARY.finditer(masked):
        if match.group(0).strip() == "" and "\n" not in match.group(0):
            before = masked[start : match.start()]
            if _ABBREVIATION.search(before):
                continue
        if text[start : match.start()].strip():
            spans.append((start, match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans
