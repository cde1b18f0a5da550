"""Generated news pages: many distinct, realistic articles from one small vocabulary.

Page `n` is always the same page. Each has site furniture around the article (navigation,
a "Most read" aside, a footer), metadata in the head, a headline, a dateline and eight to
twelve paragraphs, so the clean and extract stages do their full work on it.
"""

from __future__ import annotations

import random
from html import escape

PEOPLE = [
    ("Anna", "Lindqvist", "Finnish Foreign Minister"),
    ("Marcus", "Okafor", "Nigerian Trade Minister"),
    ("Elena", "Varga", "Hungarian central bank governor"),
    ("Tomás", "Herrera", "Chilean Energy Minister"),
    ("Priya", "Raman", "Indian Health Secretary"),
    ("Jonas", "Weber", "German Economy Minister"),
    ("Sofia", "Marchetti", "Italian Defence Minister"),
    ("Kenji", "Morita", "Japanese Finance Minister"),
]
PLACES = [
    ("HELSINKI", "Finland"),
    ("LAGOS", "Nigeria"),
    ("BUDAPEST", "Hungary"),
    ("SANTIAGO", "Chile"),
    ("NEW DELHI", "India"),
    ("BERLIN", "Germany"),
    ("ROME", "Italy"),
    ("TOKYO", "Japan"),
]
AGENCIES = ["Reuters", "AP", "AFP"]
ORGANISATIONS = ["the European Union", "the World Bank", "the United Nations", "NATO"]
TOPICS = [
    ("grain exports", "the harvest", "shipping routes"),
    ("energy prices", "gas storage", "the winter supply"),
    ("interest rates", "inflation", "the bond market"),
    ("vaccine supplies", "hospital capacity", "the flu season"),
    ("border security", "the defence budget", "joint exercises"),
    ("a trade agreement", "import tariffs", "steel quotas"),
]
SENTENCES = [
    "{full}, the {role}, said on {day} that talks on {topic} would continue next week.",
    "Officials in {country} have been under pressure over {topic} since the spring.",
    "{surname} told reporters that {org} had offered to help with {aspect}.",
    '"We are not going to accept a deal that ignores {aspect}," {surname} said.',
    "Analysts expect {topic} to dominate the agenda when ministers meet in {city_title}.",
    "The government in {country} said {aspect} had improved for a third month in a row.",
    "Critics argue that {other} has been neglected while attention focused on {topic}.",
    "{org} published figures on {day} showing a sharp change in {aspect}.",
    '"There is still a lot of work to do on {other}," the {role} added.',
    "{surname} is due to travel to {city_title} later this month for further talks.",
    "Opposition lawmakers called for an inquiry into how {topic} had been handled.",
    "A spokesman for {org} declined to comment on the talks about {topic}.",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def article_html(n: int) -> bytes:
    """The `n`th generated article page, as UTF-8 HTML."""
    rng = random.Random(n)
    first, surname, role = rng.choice(PEOPLE)
    city, country = rng.choice(PLACES)
    topic, aspect, other = rng.choice(TOPICS)
    values = {
        "full": f"{first} {surname}",
        "surname": surname,
        "role": role,
        "country": country,
        "city_title": city.title(),
        "topic": topic,
        "aspect": aspect,
        "other": other,
        "org": rng.choice(ORGANISATIONS),
        "day": rng.choice(DAYS),
    }
    title = f"{surname} says talks on {topic} will go on ({n})"
    agency = rng.choice(AGENCIES)
    day = 1 + n % 28
    paragraphs = [f"{city} ({agency}) — " + SENTENCES[0].format(**values)]
    for _ in range(rng.randint(8, 12)):
        chosen = rng.sample(SENTENCES[1:], 3)
        paragraphs.append(" ".join(sentence.format(**values) for sentence in chosen))
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    headlines = "".join(f"<li><a href='/news/{n + k}'>Story {n + k}</a></li>" for k in range(1, 6))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(title)} | Daily Wire Service</title>
<meta property="og:title" content="{escape(title)}">
<meta property="article:published_time" content="2024-03-{day:02d}T10:00:00Z">
<meta name="author" content="Staff reporter"></head>
<body><header><nav><a href="/">Home</a> <a href="/world">World</a>
<a href="/business">Business</a> <a href="/sport">Sport</a></nav></header>
<main><article><h1>{escape(title)}</h1>
<p class="byline">By Staff reporter · March {day}, 2024</p>
{body}
</article>
<aside><h2>Most read</h2><ol>{headlines}</ol></aside></main>
<footer><p>© 2024 Daily Wire Service. All rights reserved.</p>
<a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer></body></html>"""
    return page.encode()
