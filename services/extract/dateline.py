"""Datelines: where and when a wire story was filed, and by which agency.

Recognised openings (at the start of one of the first paragraphs):

    ROVANIEMI /Finland/, May 6. /TASS/.      MOSCOW (Reuters) -
    WASHINGTON (AP) —                        BEIJING, May 6 (Xinhua) --
    PARIS, Jan 3 (AFP) -                     May 7, 2019 (EIRNS)—

A dateline without a year takes the year from the page's publication date (the year that
puts the day nearest to it); without a publication date the date stays unknown: never today.
"""

from __future__ import annotations

import re
from datetime import date

from shared.schemas import Dateline

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>(?i:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r"))\.?"
_DATE = _MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(?P<year>\d{4}))?"
_PLACE = r"(?P<place>[A-Z][A-Z.'’-]+(?:[ -][A-Z][A-Z.'’-]+){0,3})"
_REGION = (
    r"(?:\s*/(?P<region>[^/\n]{2,40})/|,\s+(?P<region2>[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)(?=[,(]))"
)
_AGENCY = (
    r"(?:\s*\.?\s*/(?P<agency>[A-Za-z][\w -]{1,20})/\.?|\s*\((?P<agency2>[A-Za-z][\w -]{1,20})\))"
)
_DASH = r"\s*(?:--|[-—–])\s*"

_PLACE_FIRST = re.compile(
    rf"^{_PLACE}{_REGION}?(?:,\s*{_DATE})?(?:{_AGENCY}(?:{_DASH})?|{_DASH}|\.\s)"
)
_DATE_FIRST = re.compile(rf"^{_DATE}\s*\((?P<agency>[A-Za-z][\w -]{{1,20}})\){_DASH}")

AGENCIES = {
    "tass": "TASS",
    "reuters": "Reuters",
    "ap": "AP",
    "afp": "AFP",
    "xinhua": "Xinhua",
    "upi": "UPI",
    "ria novosti": "RIA Novosti",
    "interfax": "Interfax",
    "eirns": "EIRNS",
    "dpa": "dpa",
    "efe": "EFE",
    "ansa": "ANSA",
    "kyodo": "Kyodo",
    "yonhap": "Yonhap",
    "pti": "PTI",
    "bloomberg": "Bloomberg",
}
_LINES_SEARCHED = 4


def find_dateline(text: str, published: str | None = None) -> Dateline | None:
    """The dateline at the start of one of the first paragraphs of `text`, if any."""
    offset = 0
    for line in text.split("\n")[:_LINES_SEARCHED]:
        found = _match_line(line, published)
        if found is not None:
            return found.model_copy(update={"start": offset, "end": offset + found.end})
        offset += len(line) + 1
    return None


def _match_line(line: str, published: str | None) -> Dateline | None:
    match = _PLACE_FIRST.match(line) or _DATE_FIRST.match(line)
    if match is None:
        return None
    groups = {k: v for k, v in match.groupdict().items() if v}
    place = groups.get("place")
    agency = groups.get("agency") or groups.get("agency2")
    has_date = "month" in groups
    # An all-capitals word followed by a full stop alone is a shouted sentence, not a place.
    if place and not (agency or has_date or match.group(0).rstrip().endswith(("-", "—", "–"))):
        return None
    if place and len(place.replace(".", "")) < 2:
        return None
    when = (
        _resolve_date(groups["month"], groups["day"], groups.get("year"), published)
        if has_date
        else None
    )
    region = groups.get("region") or groups.get("region2")
    return Dateline(
        place=_title(place) if place else None,
        region=region.strip() if region else None,
        date=when.isoformat() if when else None,
        agency=AGENCIES.get(agency.strip().lower(), agency.strip()) if agency else None,
        end=match.end(),
    )


def _title(place: str) -> str:
    return " ".join(word.capitalize() if len(word) > 3 else word.title() for word in place.split())


def _resolve_date(month: str, day: str, year: str | None, published: str | None) -> date | None:
    number = MONTHS[month.lower().rstrip(".")]
    try:
        if year:
            return date(int(year), number, int(day))
        if not published:
            return None
        anchor = date.fromisoformat(published[:10])
    except ValueError:
        return None
    candidates = []
    for candidate_year in (anchor.year - 1, anchor.year, anchor.year + 1):
        try:
            candidates.append(date(candidate_year, number, int(day)))
        except ValueError:
            continue
    return min(candidates, key=lambda d: abs((d - anchor).days), default=None)
