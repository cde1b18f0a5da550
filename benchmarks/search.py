"""Search index benchmark: both backends side by side on the same generated articles.

    .venv/bin/python benchmarks/search.py --articles 100000
    .venv/bin/python benchmarks/search.py --articles 20000 --postgres postgresql://postgres@127.0.0.1/test

Indexes N generated articles (batches of --batch, as the index stage writes them) into each
backend, then times single-word, phrase and filtered-with-facets searches. Prints documents
per second and latency p50 / p95 per query kind, one column per backend. PostgreSQL runs in
a schema of its own that is dropped afterwards. Figures are wall-clock on this machine: read
them as ratios between backends measured in the same run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.schemas import ArticleExtracted, Content, Entity, EntityType, Mention
from shared.search import SearchIndex, SearchQuery, open_index

WORDS = [
    "minister",
    "talks",
    "summit",
    "president",
    "agreement",
    "sanctions",
    "election",
    "economy",
    "trade",
    "border",
    "meeting",
    "statement",
    "security",
    "cooperation",
    "parliament",
    "government",
    "crisis",
    "energy",
    "market",
    "military",
    "strategic",
    "stability",
    "diplomacy",
    "ceasefire",
    "negotiations",
    "pipeline",
    "relations",
    "conference",
    "spokesman",
    "ministry",
    "agency",
    "report",
    "vote",
    "budget",
    "reform",
    "investment",
]
PEOPLE = [
    "Vladimir Putin",
    "Donald Trump",
    "Sergey Lavrov",
    "Mike Pompeo",
    "Dmitry Peskov",
    "Angela Merkel",
    "Emmanuel Macron",
    "Xi Jinping",
    "Shinzo Abe",
    "Theresa May",
]
PLACES = ["Moscow", "Washington", "Helsinki", "Sochi", "Osaka", "Berlin", "Paris", "Beijing"]
SOURCES = ["tass.com", "usatoday.com", "7dnews.com", "larouchepub.com", "reuters.com"]


# A vocabulary with a Zipf-like spread, as news text has: a few words in nearly every
# article, most in few. Queries pick from the news words, which sit at the frequent end.
_SYLLABLES = ("ka", "lo", "mi", "ne", "po", "ra", "si", "tu", "va", "ze", "bri", "dan",
              "fel", "gor", "hum", "jin", "kel", "mor", "nist", "prav")  # fmt: skip
VOCABULARY = WORDS + [a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in _SYLLABLES[:12]]
WEIGHTS = [1.0 / (rank + 1) for rank in range(len(VOCABULARY))]


def generate(n: int, seed: int = 7) -> list[ArticleExtracted]:
    rng = random.Random(seed)
    start = date(2017, 1, 1)
    articles = []
    for i in range(n):
        people = rng.sample(PEOPLE, 2)
        place = rng.choice(PLACES)
        body = " ".join(rng.choices(VOCABULARY, WEIGHTS, k=rng.randint(150, 400)))
        text = f"{people[0]} met {people[1]} in {place}. {body}. Strategic stability was discussed."
        entities = [
            Entity(
                name=p,
                type=EntityType.PERSON,
                mentions=[Mention(text=p, start=0, end=len(p))],
                salience=0.5,
            )
            for p in people
        ] + [Entity(name=place, type=EntityType.PLACE, mentions=[], salience=0.3)]
        articles.append(
            ArticleExtracted(
                article_id=f"bench-{i}",
                url=f"https://{rng.choice(SOURCES)}/news/{i}",
                content=Content(
                    title=f"{people[0]} and {people[1]} on {rng.choice(WORDS)}",
                    text=text,
                    published=(start + timedelta(days=rng.randint(0, 1500))).isoformat(),
                    language="en",
                ),
                entities=entities,
                story_id=f"story-{i % 500}",
                extracted_at=datetime.now(UTC),
            )
        )
    return articles


QUERIES = {
    "single word": lambda: SearchQuery(q=random.choice(VOCABULARY[20:2000])),
    "phrase": lambda: SearchQuery(q='"strategic stability"'),
    "filtered + facets": lambda: SearchQuery(
        q=random.choice(VOCABULARY[20:2000]),
        person=(random.choice(PEOPLE),),
        source=random.choice(SOURCES),
        date_from=date(2018, 1, 1),
    ),
}


def run(
    index: SearchIndex, articles: list[ArticleExtracted], batch: int, searches: int
) -> dict[str, float]:
    began = time.perf_counter()
    for offset in range(0, len(articles), batch):
        index.upsert_many(articles[offset : offset + batch])
    figures = {"docs/s": len(articles) / (time.perf_counter() - began)}
    random.seed(11)
    for kind, make in QUERIES.items():
        timings = []
        for _ in range(searches):
            query = make()
            t0 = time.perf_counter()
            index.search(query)
            timings.append((time.perf_counter() - t0) * 1000)
        timings.sort()
        figures[f"{kind} p50 ms"] = statistics.median(timings)
        figures[f"{kind} p95 ms"] = timings[int(len(timings) * 0.95) - 1]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="server for the PostgreSQL backend; 'none' to skip it",
    )
    args = parser.parse_args()
    print(f"generating {args.articles} articles…", flush=True)
    articles = generate(args.articles)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        index = open_index(f"sqlite:///{Path(tmp) / 'bench.db'}")
        print("sqlite…", flush=True)
        results["sqlite"] = run(index, articles, args.batch, args.searches)
        index.close()
    if args.postgres != "none":
        import psycopg

        schema = f"newsflow_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            sep = "&" if "?" in args.postgres else "?"
            index = open_index(f"{args.postgres}{sep}options={quote(f'-csearch_path={schema}')}")
            print("postgresql…", flush=True)
            results["postgresql"] = run(index, articles, args.batch, args.searches)
            index.close()
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    names = list(results)
    print(f"\n{args.articles} articles, batches of {args.batch}, {args.searches} searches per kind")
    print(f"{'':<24}" + "".join(f"{name:>14}" for name in names))
    for metric in results[names[0]]:
        print(f"{metric:<24}" + "".join(f"{results[name][metric]:>14.1f}" for name in names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
