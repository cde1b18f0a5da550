"""Extract stage benchmark: bytes of cross-article state in Redis per article, with and
without the retention, on generated articles.

    .venv/bin/python benchmarks/extract_state.py --articles 2000

Each generated article is one of the five sample pages with a fifth of its words replaced
(so its fingerprint is its own, as a different story's would be) and three people and two
organisations no other article names (news keeps naming new people), published one day
after every 24 articles; the stage's clock advances one hour per article. Each run links the
articles through the stage's Redis layer (`ArticleLinker`) into a fresh Valkey and prints
`used_memory` growth divided by the articles linked, and the same divided by the articles
still inside the retention at the end. "no retention" is a retention longer than the run.
The last column is the share of the retention's own bookkeeping (the sorted sets of when
each entry was recorded or last used), from `MEMORY USAGE`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis.asyncio import Redis

from services.clean.extraction import extract_article
from services.extract import Extraction, analyse, load_model
from services.extract.fingerprint import fingerprint
from services.extract.linking import ArticleLinker
from services.supervisor import start_valkey
from shared.schemas import Entity, EntityType, Mention
from shared.settings import Settings
from shared.streams import ENTITY_ALIASES_USED, FINGERPRINT_RECORDED, STORY_RECORDED
from tests.conftest import free_port

PAGES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pages"
HOUR = 3600.0


def _generated(seeds: list[tuple[str, Extraction]], count: int) -> list[Extraction]:
    rng = random.Random(20190506)
    articles = []
    for n in range(count):
        text, found = seeds[n % len(seeds)]
        words = text.split()
        for i in rng.sample(range(len(words)), len(words) // 5):
            words[i] = f"w{rng.getrandbits(32):x}"
        new = [
            Entity(
                name=f"{kind.value.title()}{n}x{k} Name{n}y{k}",
                type=kind,
                mentions=[Mention(text="x", start=0, end=1)],
                salience=0.2,
            )
            for k, kind in enumerate([EntityType.PERSON] * 3 + [EntityType.ORGANIZATION] * 2)
        ]
        articles.append(
            Extraction(
                language=found.language,
                entities=[*found.entities, *new],
                dateline=found.dateline,
                quotes=found.quotes,
                keywords=found.keywords,
                summary=found.summary,
                fingerprint=fingerprint(" ".join(words)),
            )
        )
    return articles


async def _bytes_per_article(
    port: int, articles: list[Extraction], retention_days: float
) -> tuple[float, float, int, int]:
    redis: Redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        await redis.execute_command("FLUSHDB", "SYNC")
        before = int((await redis.info("memory"))["used_memory"])
        # The clock ends at the real time: LSH buckets expire on the server's clock.
        start = time.time() - len(articles) * HOUR
        clock = iter(start + n * HOUR for n in range(len(articles)))
        settings = Settings(_env_file=None, extract_retention_days=retention_days)
        linker = ArticleLinker(redis, settings, lambda: next(clock))
        for n, found in enumerate(articles):
            await linker.link(f"article-{n}", found, date(2019, 1, 1) + timedelta(days=n // 24))
        held = int((await redis.info("memory"))["used_memory"]) - before
        bookkeeping = 0
        for key in (ENTITY_ALIASES_USED, FINGERPRINT_RECORDED, STORY_RECORDED):
            bookkeeping += int(await redis.memory_usage(key, samples=0) or 0)
    finally:
        await redis.aclose()
    kept = min(len(articles), int(retention_days * 24))
    return held / len(articles), held / kept, held, bookkeeping


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--retention-days", type=float, default=10)
    args = parser.parse_args()
    nlp = load_model()
    seeds = []
    for page in sorted(PAGES.glob("*.html")):
        article = extract_article(page.read_text(encoding="utf-8"))
        seeds.append(
            (article.text, analyse(article.title, article.text, article.published, nlp=nlp))
        )
    articles = _generated(seeds, args.articles)
    hours = args.articles
    print(
        f"{args.articles} generated articles over {hours / 24:.0f} days of the stage's clock "
        f"(one an hour); bytes of Redis used_memory growth"
    )
    print(
        f"{'retention':>22} {'per article linked':>20} {'per article kept':>18} {'total':>12}"
        f" {'bookkeeping':>12}"
    )
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        valkey = start_valkey(Path(data_dir), port)
        try:
            for label, days in (
                ("no retention", hours / 24 + 1),
                (f"{args.retention_days:g} days", args.retention_days),
            ):
                per_linked, per_kept, total, bookkeeping = asyncio.run(
                    _bytes_per_article(port, articles, days)
                )
                print(
                    f"{label:>22} {per_linked:20,.0f} {per_kept:18,.0f} {total:12,}"
                    f" {bookkeeping / total:12.1%}"
                )
        finally:
            valkey.terminate()
            valkey.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
