"""Two opinions on a page's main text, combined paragraph by paragraph.

The precise opinion (trafilatura with `favor_precision`) rarely keeps boilerplate but drops
real paragraphs; the broad one (`favor_recall`) keeps them, along with some short navigation
and teaser lines. Measured on the evaluation corpus (benchmarks/extraction.py), the text the
two agree on plus the broad opinion's paragraphs of prose (long lines) scores better than
either alone: the short lines only one opinion keeps are mostly boilerplate, the long ones
mostly article. Table rows between the paragraphs both agree on are kept too: a table the
precise opinion dropped sits inside the article.
"""

from __future__ import annotations

PROSE_CHARS = 80
"""A paragraph at least this long that only the broad opinion keeps is kept."""


def _paragraphs(text: str) -> list[str]:
    return [line for line in (part.strip() for part in text.splitlines()) if line]


def combine_opinions(precise: str, broad: str, *, prose_chars: int = PROSE_CHARS) -> str:
    """The paragraphs both keep, in the broad opinion's order, plus its long ones."""
    narrow = _paragraphs(precise)
    wide = _paragraphs(broad)
    agreed = set(narrow)
    keep = [line in agreed or len(line) >= prose_chars for line in wide]
    inside = [index for index, line in enumerate(wide) if line in agreed]
    if inside:
        for index in range(inside[0], inside[-1]):
            keep[index] = keep[index] or wide[index].startswith("|")
    kept = [line for line, wanted in zip(wide, keep, strict=True) if wanted]
    # Paragraphs only the precise opinion found (split differently, say) are not lost.
    seen = set(kept)
    kept.extend(line for line in narrow if line not in seen)
    return "\n".join(kept)
