"""Quotations and who said them.

Attribution forms, tried in this order for each quotation of four words or more:

0. reported words: `He recalled the words of Putin that ... "..."`, `Pompeo's remarks: "..."`,
   `Reuters cited Peskov as saying "..."` give the quotation to the person whose words are
   reported, not to the one recalling them, unless a speech verb follows the frame
   (`Recalling Putin's words that ..., Peskov said: "..."`);
1. `X said: "..."` / `He added: "..."`: a speech verb and a colon just before the quote;
2. `"...," he said` / `"...," the Kremlin spokesman said` / `"...," said Peskov`;
3. a speaker and speech verb earlier in the same sentence (`Pompeo likewise called it "..."`),
   or failing that the sentence's first person when a speech verb precedes the quote;
4. a continued quote: a quotation with no attribution of its own continues the previous one.

A speaker phrase resolves to a person named in it, else a role the article gave a person
("the Kremlin spokesman" after "Kremlin spokesman Dmitry Peskov"), else a pronoun's
antecedent (the first person or role named in the nearest earlier sentence, quotations
left out), else, for "the statement", whoever an earlier sentence with a statement names
first, else an organisation named in it. What cannot be resolved stays None.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from services.extract.text import QUOTED, mask_quotes, sentences
from shared.schemas import Entity, EntityType, Quote

VERBS = (
    r"(?:said|says|say|told|tells|added|adds|stressed|stresses|explained|stated|states|noted|"
    r"notes|declared|insisted|warned|announced|replied|answered|answering|wrote|writes|"
    r"continued|remarked|recalled|emphasized|emphasised|specified|commented|called|calls|"
    r"asked|argued|urged|concluded|acknowledged|admitted|claimed|confirmed|reported|"
    r"according to)"
)
ROLE_HEADS = (
    "spokesman|spokeswoman|spokesperson|minister|secretary|president|chancellor|ambassador|"
    "envoy|senator|leader|official|chief|director|adviser|advisor|aide|governor|mayor|"
    "premier|diplomat|counterpart"
)
_WORDS = r"(?P<phrase>(?:[\w’'.-]+\s+){0,5}?[\w’'.-]+)"
_ADVERB = r"(?:\s+(?:also|then|later|again|\w+ly))?"
_BEFORE_COLON = re.compile(rf"{_WORDS}{_ADVERB}\s+{VERBS}\b[^.“”\"]{{0,40}}[:,]\s*$")
_AFTER = re.compile(
    rf"^[,.!?]?\s*(?:{VERBS}\s+(?P<inverted>(?:[\w’'.-]+\s+){{0,4}}?[\w’'.-]+)\s*(?:[,.;]|$)"
    rf"|{_WORDS}{_ADVERB}\s+{VERBS}\b)"
)
_IN_SENTENCE = re.compile(rf"{_WORDS}{_ADVERB}\s+{VERBS}\b")
_ROLE = re.compile(rf"\b({ROLE_HEADS})\b", re.IGNORECASE)
_ROLE_BEFORE = re.compile(r"((?:[A-Z][\w’'.-]*\s+){0,3}[\w’'.-]+(?:\s+of\s+State)?),?\s*$")
_ROLE_AFTER = re.compile(rf"^,\s*((?:[\w’'.-]+\s+){{0,3}}?(?:{ROLE_HEADS}))\b", re.IGNORECASE)
_REPORTED = r"(?:words|remarks|statement|phrase|comments?|assertion|warning|promise|pledge)"
_SPEAKER = r"(?P<phrase>[^,;:.“”\"]{1,60}?)"
_FRAMES = (
    re.compile(rf"\b{_REPORTED}\s+(?:of|by)\s+{_SPEAKER}\s*(?:\bthat\b|:)"),
    re.compile(rf"\b{_SPEAKER}[’']s\s+(?:own\s+)?{_REPORTED}\s*(?:\bthat\b|:)"),
    re.compile(rf"\b(?:quoting|citing|cited)\s+{_SPEAKER}\s+(?:as\s+)?saying\b"),
)
"""Frames that report someone else's words: the quotation after one is theirs."""
_PRONOUNS = frozenset({"he", "she"})
_DOCUMENTS = frozenset({"statement", "communique", "communiqué", "declaration", "report"})
_MIN_WORDS = 4
_LOOKBACK_SENTENCES = 3


@dataclass(frozen=True, slots=True)
class _Named:
    start: int
    end: int
    name: str
    kind: EntityType


class _Speakers:
    """Who the article names where, and the roles it gives people."""

    def __init__(self, text: str, entities: list[Entity]) -> None:
        self.text = text
        self.named = sorted(
            (
                _Named(m.start, m.end, e.name, e.type)
                for e in entities
                if e.type in (EntityType.PERSON, EntityType.ORGANIZATION)
                for m in e.mentions
            ),
            key=lambda n: n.start,
        )
        self.roles: dict[str, set[str]] = {}
        self.role_words: dict[str, set[str]] = {}
        for named in self.named:
            if named.kind is EntityType.PERSON:
                self._learn_role(named)

    def _learn_role(self, named: _Named) -> None:
        before = _ROLE_BEFORE.search(self.text[max(0, named.start - 60) : named.start])
        after = _ROLE_AFTER.match(self.text[named.end : named.end + 60])
        for phrase in (before.group(1) if before else "", after.group(1) if after else ""):
            heads = _ROLE.findall(phrase)
            if heads:
                head = heads[-1].lower()
                self.roles.setdefault(head, set()).add(named.name)
                words = {w.lower() for w in re.findall(r"[\w]+", phrase)}
                self.role_words.setdefault(named.name, set()).update(words)

    def in_range(self, start: int, end: int) -> list[_Named]:
        return [n for n in self.named if start <= n.start and n.end <= end]

    def role(self, phrase: str) -> str | None:
        heads = _ROLE.findall(phrase)
        if not heads:
            return None
        people = self.roles.get(heads[-1].lower(), set())
        if len(people) == 1:
            return next(iter(people))
        words = {w.lower() for w in re.findall(r"\w+", phrase)}
        scored = sorted(((len(words & self.role_words[p]), p) for p in people), reverse=True)
        if len(scored) >= 2 and scored[0][0] > scored[1][0]:
            return scored[0][1]
        return None

    def first_named(self, start: int, end: int, masked: str) -> str | None:
        """The first person or organisation named between start and end, outside quotations."""
        for named in self.in_range(start, end):
            if masked[named.start] == self.text[named.start]:
                return named.name
        return None

    def first_in(self, start: int, end: int, masked: str) -> str | None:
        """The first person or role named between start and end, outside quotations."""
        found: list[tuple[int, str]] = [
            (n.start, n.name)
            for n in self.in_range(start, end)
            if n.kind is EntityType.PERSON and masked[n.start] == self.text[n.start]
        ]
        for match in _ROLE.finditer(masked, start, end):
            lead = masked[max(start, match.start() - 40) : match.end()]
            if (person := self.role(lead.split(",")[-1])) is not None:
                found.append((match.start(), person))
        return min(found)[1] if found else None


def find_quotes(text: str, entities: list[Entity]) -> list[Quote]:
    """Quotations of four words or more in `text`, each with its speaker when one is named."""
    speakers = _Speakers(text, entities)
    article = _Article(speakers, mask_quotes(text), sentences(text) or [(0, len(text))])
    starts = [start for start, _ in article.bounds]
    quotes: list[Quote] = []
    previous_end = -1
    previous_speaker: str | None = None
    for match in QUOTED.finditer(text):
        if len(match.group(1).split()) < _MIN_WORDS:
            continue
        index = max(bisect_right(starts, match.start()) - 1, 0)
        speaker = article.attribute(match.start(), match.end(), index)
        if speaker is None and previous_speaker and _continues(text, previous_end, match.start()):
            speaker = previous_speaker
        quotes.append(
            Quote(
                text=match.group(1).strip(" ,"),
                speaker=speaker,
                start=match.start(1),
                end=match.end(1),
            )
        )
        previous_end, previous_speaker = match.end(), speaker
    return quotes


@dataclass(frozen=True, slots=True)
class _Article:
    speakers: _Speakers
    masked: str
    """The text with quotations blanked: attributions are looked for outside them."""
    bounds: list[tuple[int, int]]
    """Sentence offsets."""

    def attribute(self, start: int, end: int, index: int) -> str | None:
        """The speaker of the quotation at start..end, in sentence `index`."""
        sentence_start, sentence_end = self.bounds[index]
        before = self.masked[sentence_start:start]
        if (speaker := self._reported(before, sentence_start, index)) is not None:
            return speaker
        if found := _BEFORE_COLON.search(before):
            offset = sentence_start + found.start("phrase")
            return self.resolve(offset, found.group("phrase"), index)
        after = self.masked[end : max(end, sentence_end) + 1]
        if found := _AFTER.match(after):
            group = "inverted" if found.group("inverted") else "phrase"
            return self.resolve(end + found.start(group), found.group(group), index)
        verbs = list(_IN_SENTENCE.finditer(before))
        for found in reversed(verbs):
            offset = sentence_start + found.start("phrase")
            if speaker := self.resolve(offset, found.group("phrase"), index):
                return speaker
        # "Lavrov fielded questions ..., by answering that ...": the sentence's first person.
        return self.speakers.first_in(sentence_start, start, self.masked) if verbs else None

    def _reported(self, before: str, offset: int, index: int) -> str | None:
        """Whose words the sentence reports before the quotation, when no speech verb
        follows that frame."""
        frames = [found for pattern in _FRAMES for found in pattern.finditer(before)]
        if not frames:
            return None
        frame = max(frames, key=lambda found: found.end())
        if _IN_SENTENCE.search(before, frame.end()):
            return None
        return self.resolve(offset + frame.start("phrase"), frame.group("phrase"), index)

    def resolve(self, offset: int, phrase: str, index: int) -> str | None:
        """Who the speaker phrase at `offset` (in sentence `index`) names."""
        named = self.speakers.in_range(offset, offset + len(phrase))
        people = [n.name for n in named if n.kind is EntityType.PERSON]
        if people:
            return people[-1]
        if (person := self.speakers.role(phrase)) is not None:
            return person
        last_word = phrase.rsplit(maxsplit=1)[-1].lower()
        if last_word in _DOCUMENTS or last_word in _PRONOUNS:
            return self._antecedent(last_word, index)
        organisations = [n.name for n in named if n.kind is EntityType.ORGANIZATION]
        return organisations[-1] if organisations else None

    def _antecedent(self, word: str, index: int) -> str | None:
        """Who "he" or "the statement" in sentence `index` refers to, from the sentences
        before: for a pronoun the first person or role named in the nearest sentence that
        names one; for a statement whoever the nearest sentence mentioning it names first."""
        for earlier in range(index - 1, max(index - 1 - _LOOKBACK_SENTENCES, -1), -1):
            start, end = self.bounds[earlier]
            if word in _PRONOUNS:
                if (person := self.speakers.first_in(start, end, self.masked)) is not None:
                    return person
            elif re.search(rf"\b{word}\b", self.masked[start:end], re.IGNORECASE):
                return self.speakers.first_named(start, end, self.masked)
        return None


def _continues(text: str, previous_end: int, start: int) -> bool:
    """The quote opens right after the previous one's attribution (same or next paragraph)."""
    return previous_end >= 0 and text.count("\n", previous_end, start) <= 1
