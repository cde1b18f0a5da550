"""services.clean.extraction: the article in a page, without its site's boilerplate."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from services.clean.extraction import (
    MIN_ARTICLE_CHARS,
    CleanArticle,
    extract_article,
    strip_placeholders,
)
from shared.errors import NotAnArticle

pytestmark = pytest.mark.unit

PAGES = Path(__file__).parent.parent / "fixtures" / "pages"

# page -> (published date, names Lavrov in its article body)
FIXTURES = {
    "tass-2019-lavrov-rovaniemi.html": ("2019-05-06", True),
    "eirns-2019-lavrov-pompeo-finland.html": ("2019-05-07", True),
    "7dnews-2019-pompeo-lavrov-sochi.html": ("2019-05-14", True),
    "usatoday-2017-putin-trump-call.html": ("2017-01-29", False),
    "tass-2017-peskov-phone-call.html": ("2017-01-23", False),
}
# Strings found only in the pages' boilerplate: sidebars, ads, templates, banners, footers.
BOILERPLATE = [
    "Most read",
    "{{",
    "ADVERTISEMENT",
    "Currency converter",
    "Partner News",
    "TOP STORIES",
    "In other media",
    "Read also",
    "double standards",  # a "Read also" headline in tass-2017
    "Karlov",  # tass-2017's Photo sidebar
    "We use cookies",
    "Subscribe to EIR",
    "All rights reserved",
]


def _html(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def articles() -> dict[str, CleanArticle]:
    return {name: extract_article(_html(name)) for name in FIXTURES}


def test_fixture_pages_are_present() -> None:
    assert sorted(p.name for p in PAGES.glob("*.html")) == sorted(FIXTURES)


@pytest.mark.parametrize("name", FIXTURES)
def test_title_is_the_pages_headline(articles: dict[str, CleanArticle], name: str) -> None:
    headlines = re.findall(r"<h1[^>]*>(.*?)</h1>", _html(name), re.S)
    assert len(headlines) == 1
    assert articles[name].title == unescape(headlines[0]).strip()


@pytest.mark.parametrize(("name", "published"), [(n, v[0]) for n, v in FIXTURES.items()])
def test_published_date(articles: dict[str, CleanArticle], name: str, published: str) -> None:
    assert articles[name].published == published


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("boilerplate", BOILERPLATE)
def test_text_has_no_boilerplate(
    articles: dict[str, CleanArticle], name: str, boilerplate: str
) -> None:
    assert boilerplate not in articles[name].text


@pytest.mark.parametrize("boilerplate", BOILERPLATE)
def test_boilerplate_strings_do_occur_in_the_pages(boilerplate: str) -> None:
    # Guards the test above: each string is there to be removed.
    assert any(boilerplate in _html(name) for name in FIXTURES)


@pytest.mark.parametrize("name", FIXTURES)
def test_text_is_long_enough_and_holds_the_first_paragraph(
    articles: dict[str, CleanArticle], name: str
) -> None:
    text = articles[name].text
    assert len(text) >= MIN_ARTICLE_CHARS
    assert "Putin" in text
    assert "Trump" in text


@pytest.mark.parametrize(("name", "names_lavrov"), [(n, v[1]) for n, v in FIXTURES.items()])
def test_lavrov_only_where_the_article_names_him(
    articles: dict[str, CleanArticle], name: str, names_lavrov: bool
) -> None:
    # tass-2017 names Lavrov only in its "Most read" sidebar: boilerplate, not the article.
    assert ("Lavrov" in articles[name].text) is names_lavrov


def test_tass_2017_page_itself_mentions_lavrov_in_its_sidebar() -> None:
    # Guards the test above: the page does hold the name, so its absence from the text counts.
    assert "Lavrov" in _html("tass-2017-peskov-phone-call.html")


def test_tass_pages_carry_unrendered_placeholders() -> None:
    for name in ("tass-2019-lavrov-rovaniemi.html", "tass-2017-peskov-phone-call.html"):
        assert "{{item.group_date}}" in _html(name)


def test_content_carries_the_metadata(articles: dict[str, CleanArticle]) -> None:
    article = articles["tass-2019-lavrov-rovaniemi.html"]
    content = article.content()
    assert content.title == article.title
    assert content.text == article.text
    assert content.published == "2019-05-06"
    assert content.authors == article.authors


@pytest.mark.parametrize("html", ["", "   \n\t  "])
def test_empty_page_is_not_an_article(html: str) -> None:
    with pytest.raises(NotAnArticle, match="page is empty"):
        extract_article(html)


def test_page_without_main_text_is_not_an_article() -> None:
    with pytest.raises(NotAnArticle, match="no main text"):
        extract_article("<html><head><title>x</title></head><body></body></html>")


def test_nav_heavy_list_page_is_not_an_article() -> None:
    paragraph = "One short paragraph sits on this busy news page..."
    assert len(paragraph) == 50
    links = "".join(
        f'<li><a href="/news/{i}">Headline number {i} about the day in world politics</a></li>'
        for i in range(40)
    )
    html = (
        "<html><head><title>World news</title></head><body>"
        f"<header><nav><ul>{links}</ul></nav></header>"
        f"<main><p>{paragraph}</p></main><footer>© 2019 Example News</footer>"
        "</body></html>"
    )
    with pytest.raises(NotAnArticle) as excinfo:
        extract_article(html)
    assert excinfo.value.reason == "too little text for an article (50 characters)"


def test_min_chars_is_the_threshold() -> None:
    html = _html("tass-2019-lavrov-rovaniemi.html")
    length = len(extract_article(html).text)
    assert len(extract_article(html, min_chars=length).text) == length
    with pytest.raises(NotAnArticle, match=f"too little text for an article \\({length} "):
        extract_article(html, min_chars=length + 1)


def test_placeholders_inside_the_article_are_removed() -> None:
    sentence = (
        "Russian Foreign Minister Sergey Lavrov said on Monday that the presidents of Russia "
        "and the United States could meet soon, after talks in the Finnish city of Rovaniemi."
    )
    html = (
        "<html><head><title>Lavrov</title></head><body><article>"
        "<h1>Lavrov in Rovaniemi</h1>"
        f"<p>{sentence}</p><p>{{{{item.group_date}}}}</p><p>{sentence}</p>"
        "<p>Posted {{item.suffix}} today.</p>"
        "</article></body></html>"
    )
    text = extract_article(html).text
    assert text == f"Lavrov in Rovaniemi\n{sentence}\n{sentence}\nPosted  today."


def test_strip_placeholders_removes_template_lines() -> None:
    text = "\n".join(
        [
            "Lavrov met Pompeo in Rovaniemi.",
            "{{item.group_date}}",
            '  {{item.suffix?", "+item.suffix:""}}  ',
            "{% if item.image %}",
            "Talks went well {{item.tag}} said the minister.",
            "",
            "The end.",
        ]
    )
    assert strip_placeholders(text) == (
        "Lavrov met Pompeo in Rovaniemi.\nTalks went well  said the minister.\nThe end."
    )


def test_strip_placeholders_keeps_plain_braces() -> None:
    assert strip_placeholders("a {b} c\n{ d }") == "a {b} c\n{ d }"
