"""The extract stage's cross-article layer against a real Valkey server: canonical names,
near-duplicates and stories shared by replicas (each replica has its own connection)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from services.clean.extraction import extract_article
from services.extract import Extraction, analyse, load_model
from services.extract.duplicates import DuplicateIndex
from services.extract.fingerprint import bands, fingerprint
from services.extract.linking import ArticleLinker, story_day
from services.extract.registry import AliasRegistry
from services.extract.retention import SECONDS_PER_DAY
from services.extract.stories import StoryFeatures, StoryIndex
from shared.redis_values import as_text
from shared.schemas import Entity, EntityType, Mention
from shared.settings import Settings
from shared.streams import (
    DUPLICATES,
    ENTITY_ALIASES,
    ENTITY_ALIASES_USED,
    FINGERPRINT_ORDER,
    FINGERPRINT_RECORDED,
    FINGERPRINTS,
    STORY_DAYS,
    STORY_FEATURES,
    STORY_RECORDED,
    lsh_bucket_key,
)

pytestmark = pytest.mark.component

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXPECTATIONS: dict[str, Any] = json.loads((FIXTURES / "expectations.json").read_text())
PAGES = list(EXPECTATIONS["pages"])
RETENTION = 30 * SECONDS_PER_DAY


@pytest.fixture(scope="module")
def seeds() -> dict[str, tuple[str | None, Extraction]]:
    nlp = load_model()
    found = {}
    for page in PAGES:
        article = extract_article((FIXTURES / "pages" / page).read_text(encoding="utf-8"))
        found[page] = (
            article.published,
            analyse(article.title, article.text, article.published, article.language, nlp=nlp),
        )
    return found


def _person(name: str, start: int = 0) -> Entity:
    mention = Mention(text=name, start=start, end=start + len(name))
    return Entity(name=name, type=EntityType.PERSON, mentions=[mention], salience=0.5)


async def _replica(redis_server: str) -> Redis:
    return Redis.from_url(redis_server)


async def test_spellings_across_articles_get_the_first_recorded_name(
    redis: Redis, redis_server: str
) -> None:
    other = await _replica(redis_server)
    try:
        first, second = AliasRegistry(redis, RETENTION), AliasRegistry(other, RETENTION)
        assert [e.name for e in await first.canonicalise([_person("Sergey Lavrov")])] == [
            "Sergey Lavrov"
        ]
        renamed = await second.canonicalise(
            [_person("Sergei Lavrov"), _person("Putin", 20), _person("Michael Pompeo", 40)]
        )
        assert [e.name for e in renamed] == ["Sergey Lavrov", "Putin", "Michael Pompeo"]
        await first.canonicalise([_person("Vladimir Putin"), _person("Mike Pompeo", 30)])
        later = await second.canonicalise([_person("Putin"), _person("Mike Pompeo", 10)])
        assert {e.name for e in later} == {"Vladimir Putin", "Michael Pompeo"}
    finally:
        await other.aclose()


async def test_a_bare_surname_and_its_full_name_in_one_article_merge(redis: Redis) -> None:
    registry = AliasRegistry(redis, RETENTION)
    await registry.canonicalise([_person("Donald Trump")])
    # An article that never gives the first name: its "Trump" is the known Donald Trump.
    merged = await registry.canonicalise([_person("Trump", 5), _person("Obama", 50)])
    assert [(e.name, [m.start for m in e.mentions]) for e in merged] == [
        ("Donald Trump", [5]),
        ("Obama", [50]),
    ]
    # Next to Melania Trump, a bare "Trump" is left as the article decided.
    kept = await registry.canonicalise([_person("Melania Trump"), _person("Trump", 30)])
    assert {e.name for e in kept} == {"Melania Trump", "Trump"}


async def test_replicas_racing_on_a_new_name_agree(redis: Redis, redis_server: str) -> None:
    replicas = [await _replica(redis_server) for _ in range(4)]
    try:
        spellings = ["Alexei Navalny", "Aleksey Navalny", "Alexey Navalny", "Aleksei Navalny"]
        results = await asyncio.gather(
            *(
                AliasRegistry(client, RETENTION).canonicalise([_person(name)])
                for client, name in zip(replicas, spellings, strict=True)
            )
        )
        assert len({result[0].name for result in results}) == 1
    finally:
        for client in replicas:
            await client.aclose()


async def test_a_syndicated_copy_points_at_the_original(
    redis: Redis, redis_server: str, seeds: dict[str, tuple[str | None, Extraction]]
) -> None:
    text = seeds["tass-2017-peskov-phone-call.html"][1]
    original = extract_article(
        (FIXTURES / "pages" / "tass-2017-peskov-phone-call.html").read_text(encoding="utf-8")
    ).text
    copy = "Moscow Times staff\n" + original.replace("told reporters", "told journalists")
    index = DuplicateIndex(redis, threshold=0.8, retention_seconds=RETENTION)
    assert await index.record("original", text.fingerprint) is None
    assert await index.record("copy", fingerprint(copy)) == "original"
    # A copy of the copy points at the first original; asking again changes nothing.
    assert await index.record("copy-2", fingerprint(copy + "\nShare this")) == "original"
    assert await index.record("original", text.fingerprint) is None
    assert await index.record("copy", fingerprint(copy)) == "original"
    other = await _replica(redis_server)
    try:
        unrelated = seeds["usatoday-2017-putin-trump-call.html"][1].fingerprint
        assert (
            await DuplicateIndex(other, threshold=0.8, retention_seconds=RETENTION).record(
                "usatoday", unrelated
            )
            is None
        )
    finally:
        await other.aclose()


async def test_two_copies_handled_at_once_have_exactly_one_original(
    redis: Redis, redis_server: str, seeds: dict[str, tuple[str | None, Extraction]]
) -> None:
    signature = seeds["eirns-2019-lavrov-pompeo-finland.html"][1].fingerprint
    replicas = [await _replica(redis_server) for _ in range(3)]
    try:
        answers = await asyncio.gather(
            *(
                DuplicateIndex(client, threshold=0.8, retention_seconds=RETENTION).record(
                    f"copy-{n}", signature
                )
                for n, client in enumerate(replicas)
            )
        )
    finally:
        for client in replicas:
            await client.aclose()
    originals = [n for n, answer in enumerate(answers) if answer is None]
    assert len(originals) == 1
    assert {answer for answer in answers if answer} == {f"copy-{originals[0]}"}


@pytest.mark.parametrize("order", ["as listed", "reversed"])
async def test_sample_pages_form_two_stories_and_no_duplicates(
    redis: Redis,
    settings: Settings,
    seeds: dict[str, tuple[str | None, Extraction]],
    order: str,
) -> None:
    pages = PAGES if order == "as listed" else PAGES[::-1]
    linker = ArticleLinker(redis, settings)
    linked = {}
    for page in pages:
        published, found = seeds[page]
        linked[page] = await linker.link(page, found, story_day(published, found, date.today()))
    groups: dict[str, set[str]] = {}
    for page, result in linked.items():
        groups.setdefault(result.story_id, set()).add(page)
    assert sorted(map(sorted, groups.values())) == sorted(
        sorted(story) for story in EXPECTATIONS["stories"]
    )
    assert [page for page, result in linked.items() if result.duplicate_of] == EXPECTATIONS[
        "duplicates"
    ]
    # One canonical name per entity across the articles. A bare surname can only take a full
    # name recorded before it: in reverse order USA Today's "Trump" comes first and stays.
    for spellings in EXPECTATIONS["same_entity"]:
        if order == "reversed" and any(" " not in spelling for spelling in spellings):
            continue
        names = {
            entity.name
            for result in linked.values()
            for entity in result.entities
            if entity.type is EntityType.PERSON
            and (entity.name in spellings or any(m.text in spellings for m in entity.mentions))
        }
        assert len(names) == 1, names
    # Linking again (a re-delivered entry) gives the same answers.
    page = pages[-1]
    published, found = seeds[page]
    again = await linker.link(page, found, story_day(published, found, date.today()))
    assert again.story_id == linked[page].story_id
    assert again.duplicate_of is None


async def test_articles_outside_the_window_are_never_one_story(
    redis: Redis, seeds: dict[str, tuple[str | None, Extraction]]
) -> None:
    found = seeds["tass-2019-lavrov-rovaniemi.html"][1]
    features = StoryFeatures.of(found.entities, found.keywords)
    stories = StoryIndex(redis, window_days=3, threshold=0.34, retention_seconds=RETENTION)
    first = await stories.assign("a", date(2019, 5, 6), features)
    assert await stories.assign("b", date(2019, 5, 9), features) == first
    assert await stories.assign("c", date(2019, 5, 20), features) == "c"


async def test_replicas_starting_one_story_at_once_agree(
    redis: Redis, redis_server: str, seeds: dict[str, tuple[str | None, Extraction]]
) -> None:
    replicas = [await _replica(redis_server) for _ in range(3)]
    pages = [p for p in PAGES if "2019" in p]
    try:
        stories = await asyncio.gather(
            *(
                StoryIndex(
                    client, window_days=14, threshold=0.34, retention_seconds=RETENTION
                ).assign(
                    page,
                    date(2019, 5, 7),
                    StoryFeatures.of(seeds[page][1].entities, seeds[page][1].keywords),
                )
                for client, page in zip(replicas, pages, strict=True)
            )
        )
    finally:
        for client in replicas:
            await client.aclose()
    assert len(set(stories)) == 1
    assert stories[0] in pages


DAY = SECONDS_PER_DAY
T0 = float(int(time.time()))
"""'Now' for the retention tests, which move the stage's clock on from it. LSH buckets expire
on the server's clock, so it starts at the real time."""


async def test_aliases_unused_for_the_retention_are_forgotten_and_used_ones_kept(
    redis: Redis,
) -> None:
    registry = AliasRegistry(redis, retention_seconds=10 * DAY)
    await registry.canonicalise([_person("Sergey Lavrov"), _person("Mike Pompeo", 20)], T0)
    # Lavrov is named again on day 8, Pompeo never again.
    assert [e.name for e in await registry.canonicalise([_person("Lavrov")], T0 + 8 * DAY)] == [
        "Sergey Lavrov"
    ]
    # Day 12: Pompeo's keys were last used 12 days ago, Lavrov's 4.
    await registry.canonicalise([_person("Angela Merkel")], T0 + 12 * DAY)
    known = {as_text(key) for key in await redis.hkeys(ENTITY_ALIASES)}
    assert known == {
        "person:sergey lavrov",
        "person:lavrov",
        "person:angela merkel",
        "person:merkel",
    }
    assert await redis.zcard(ENTITY_ALIASES_USED) == len(known)
    # A forgotten name is recorded afresh by the next article that names it in full.
    renamed = await registry.canonicalise([_person("Michael Pompeo")], T0 + 12 * DAY)
    assert [e.name for e in renamed] == ["Michael Pompeo"]


async def test_fingerprints_past_the_retention_are_forgotten_within_it_copies_found(
    redis: Redis, seeds: dict[str, tuple[str | None, Extraction]]
) -> None:
    index = DuplicateIndex(redis, threshold=0.8, retention_seconds=10 * DAY)
    signature = seeds["tass-2017-peskov-phone-call.html"][1].fingerprint
    other = seeds["usatoday-2017-putin-trump-call.html"][1].fingerprint
    assert await index.record("original", signature, T0) is None
    assert await index.record("copy", signature, T0 + 9 * DAY) == "original"
    assert await index.record("unrelated", other, T0 + 9 * DAY) is None
    buckets = [lsh_bucket_key(band, digest) for band, digest in enumerate(bands(signature))]
    # Each bucket expires the retention after the last article added to it (day 9).
    ttls = [await redis.ttl(bucket) for bucket in buckets]
    assert all(18 * DAY < ttl <= 19 * DAY for ttl in ttls), ttls

    # Day 11: the original is forgotten, its copy (recorded on day 9) is not. A third copy
    # finds the copy, which still says what it copies: the first original's id.
    assert await index.record("copy-2", signature, T0 + 11 * DAY) == "original"
    for key in (FINGERPRINTS, DUPLICATES):
        assert not await redis.hexists(key, "original")
    assert await redis.zscore(FINGERPRINT_ORDER, "original") is None
    assert await redis.zscore(FINGERPRINT_RECORDED, "original") is None
    for bucket in buckets:
        assert not await redis.sismember(bucket, "original")
    # Day 30: everything recorded before day 20 is gone.
    await index.record("later", other, T0 + 30 * DAY)
    assert {as_text(m) for m in await redis.zrange(FINGERPRINT_RECORDED, 0, -1)} == {"later"}
    assert {as_text(k) for k in await redis.hkeys(FINGERPRINTS)} == {"later"}
    assert await redis.hlen(DUPLICATES) == 0


async def test_an_lsh_bucket_nobody_adds_to_expires_with_the_retention(
    redis: Redis, seeds: dict[str, tuple[str | None, Extraction]]
) -> None:
    index = DuplicateIndex(redis, threshold=0.8, retention_seconds=1)
    signature = seeds["eirns-2019-lavrov-pompeo-finland.html"][1].fingerprint
    await index.record("a", signature)
    buckets = [lsh_bucket_key(band, digest) for band, digest in enumerate(bands(signature))]
    assert await redis.exists(*buckets) == len(buckets)
    await asyncio.sleep(1.2)
    assert await redis.exists(*buckets) == 0


async def test_story_candidates_past_the_retention_are_forgotten(
    redis: Redis, seeds: dict[str, tuple[str | None, Extraction]]
) -> None:
    found = seeds["tass-2019-lavrov-rovaniemi.html"][1]
    features = StoryFeatures.of(found.entities, found.keywords)
    stories = StoryIndex(redis, window_days=14, threshold=0.34, retention_seconds=10 * DAY)
    published = date(2019, 5, 6)
    first = await stories.assign("a", published, features, now=T0)
    # Within the retention the window decides, as before.
    assert await stories.assign("b", published, features, now=T0 + 9 * DAY) == first
    # "a" was placed 11 days ago: forgotten, so "c" joins the story through "b".
    assert await stories.assign("c", published, features, now=T0 + 11 * DAY) == first
    assert not await redis.hexists(STORY_FEATURES, "a")
    assert await redis.zscore(STORY_DAYS, "a") is None
    assert await redis.zscore(STORY_RECORDED, "a") is None
    # Once the whole story is forgotten, a new article about it starts a story of its own.
    assert await stories.assign("d", published, features, now=T0 + 40 * DAY) == "d"
    assert await redis.zcard(STORY_DAYS) == 1
    assert await redis.hlen(STORY_FEATURES) == 1


async def test_linking_within_the_retention_is_unchanged(
    redis: Redis, settings: Settings, seeds: dict[str, tuple[str | None, Extraction]]
) -> None:
    """The sample pages linked over 20 days with a 30-day retention: the same two stories."""
    clock = iter(T0 + n * 4 * DAY for n in range(len(PAGES)))
    linker = ArticleLinker(
        redis, settings.model_copy(update={"extract_retention_days": 30}), lambda: next(clock)
    )
    groups: dict[str, set[str]] = {}
    for page in PAGES:
        published, found = seeds[page]
        linked = await linker.link(page, found, story_day(published, found, date.today()))
        assert linked.duplicate_of is None
        groups.setdefault(linked.story_id, set()).add(page)
    assert sorted(map(sorted, groups.values())) == sorted(
        sorted(story) for story in EXPECTATIONS["stories"]
    )


async def test_a_bare_surname_seen_first_takes_the_full_name_in_later_articles(
    redis: Redis,
) -> None:
    registry = AliasRegistry(redis, RETENTION)
    # The first article never names him in full: nothing to resolve "Trump" to yet, and
    # recording nothing keeps the way open for the full name.
    assert [e.name for e in await registry.canonicalise([_person("Trump")])] == ["Trump"]
    assert [e.name for e in await registry.canonicalise([_person("Donald J. Trump")])] == [
        "Donald J. Trump"
    ]
    later = await registry.canonicalise([_person("Donald Trump")])
    assert [e.name for e in later] == ["Donald J. Trump"]
    assert [e.name for e in await registry.canonicalise([_person("Trump", 9)])] == [
        "Donald J. Trump"
    ]


async def test_a_surname_two_people_share_resolves_to_nobody(redis: Redis) -> None:
    registry = AliasRegistry(redis, RETENTION)
    await registry.canonicalise([_person("Donald Trump")])
    await registry.canonicalise([_person("Melania Trump")])
    assert [e.name for e in await registry.canonicalise([_person("Trump")])] == ["Trump"]
    # Another spelling of one of them does not make the surname theirs again.
    await registry.canonicalise([_person("Donald J. Trump")])
    assert [e.name for e in await registry.canonicalise([_person("Trump")])] == ["Trump"]
    # A surname only one person has still resolves.
    await registry.canonicalise([_person("Sergey Lavrov")])
    assert [e.name for e in await registry.canonicalise([_person("Lavrov")])] == ["Sergey Lavrov"]


async def test_only_people_are_resolved_by_surname(redis: Redis) -> None:
    registry = AliasRegistry(redis, RETENTION)
    await registry.canonicalise([_person("Michael Jordan"), _person("George Washington", 20)])
    places = [
        Entity(
            name=name,
            type=EntityType.PLACE,
            mentions=[Mention(text=name, start=start, end=start + len(name))],
            salience=0.4,
        )
        for name, start in (("Jordan", 0), ("Washington", 10))
    ]
    found = await registry.canonicalise(places)
    assert {(e.name, e.type) for e in found} == {
        ("Jordan", EntityType.PLACE),
        ("Washington", EntityType.PLACE),
    }
