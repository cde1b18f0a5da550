"""Which language an article is written in, from its commonest words and its script.

Only English text goes through the English entity model; other languages are marked and
passed on without entities. Function words are a reliable signal on article-length text
and cost one pass over the words. The language the clean stage declared is a hint: it
decides between languages the text scores about equally on.
"""

from __future__ import annotations

import re
from collections import Counter

_FUNCTION_WORDS = {
    "en": (
        "an and are as at be been but by for from has have his in is it its not of on said "
        "that the their they this to was were which will with would"
    ),
    "de": (
        "auch auf aus bei das dem den der des die ein eine einer für im ist mit nach nicht "
        "sich sie und von werden wie wird zu über"
    ),
    "fr": (
        "au aux avec ce cette dans des du en est et il la le les mais ont par pas plus pour "
        "que qui sont sur une été"
    ),
    "es": (
        "al como con del el en entre es este fue ha la las le lo los más para pero por que se "
        "su sus una y"
    ),
    "it": (
        "alla anche che come con da dei del della di gli ha il la le nel non per più questo "
        "si sono un una"
    ),
    "pt": (
        "ao as com como das de dos ele está foi já mais mas muito nos não os ou para por "
        "quando que seu sua tem uma"
    ),
    "nl": (
        "aan als bij dan dat de door een en er het is maar met naar niet om ook op te van "
        "voor wordt zijn zou"
    ),
}
FUNCTION_WORDS = {code: frozenset(words.split()) for code, words in _FUNCTION_WORDS.items()}
"""Each language's commonest words."""
SCRIPTS = (
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_MIN_SHARE = 0.08
_HINT_MARGIN = 0.8


def detect_language(text: str, declared: str | None = None) -> str | None:
    """ISO 639-1 code of the text's language, or None when the text gives too little to tell."""
    letters = _LETTER.findall(text)
    if not letters:
        return None
    for code, script in SCRIPTS:
        if len(script.findall(text)) > 0.4 * len(letters):
            return code
    words = [word.lower() for word in _WORD.findall(text)]
    if len(words) < 5:
        return _short(declared)
    counts = Counter(words)
    scores = {
        code: sum(counts[word] for word in vocabulary) / len(words)
        for code, vocabulary in FUNCTION_WORDS.items()
    }
    best = max(scores, key=scores.__getitem__)
    if scores[best] < _MIN_SHARE:
        return _short(declared)
    hint = _short(declared)
    if hint in scores and scores[hint] >= _HINT_MARGIN * scores[best]:
        return hint
    return best


def _short(code: str | None) -> str | None:
    return code.split("-")[0].split("_")[0].lower() if code else None
