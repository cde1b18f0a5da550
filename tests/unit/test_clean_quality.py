"""services.clean: opinions combined, boilerplate removed, metadata declared, "not an article"."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import lxml.html
import pytest

from services.clean import extract_article
from services.clean.boilerplate import is_boilerplate_line, remove_boilerplate
from services.clean.combine import PROSE_CHARS, combine_opinions
from services.clean.extraction import BROAD_BELOW_CHARS
from services.clean.language import detect_language
from services.clean.lead import with_lead
from services.clean.metadata import language_tag
from shared.errors import NotAnArticle

pytestmark = pytest.mark.unit

PAGES = Path(__file__).parent.parent / "fixtures" / "pages"

PARAGRAPHS = [
    "The foreign ministers met in the Finnish city of Rovaniemi on Monday for talks that "
    "lasted more than an hour, both delegations said afterwards.",
    "Neither side gave details of the conversation, but officials described the tone as "
    "business-like and said further meetings were being prepared.",
    "The Arctic Council session that brought both ministers to Finland ended the next day "
    "without a joint declaration, for the first time in its history.",
]


def _page(body: str, head: str = "", lang: str = ' lang="en"') -> str:
    return (
        f"<html{lang}><head><title>Ministers meet in Rovaniemi</title>{head}</head><body>"
        f"<article><h1>Ministers meet in Rovaniemi</h1>{body}</article></body></html>"
    )


def _paragraphs(*extra: str) -> str:
    return "".join(f"<p>{p}</p>" for p in [*PARAGRAPHS, *extra])


# combine_opinions


def test_combined_text_keeps_what_both_agree_on_and_the_broad_opinions_prose() -> None:
    prose = "A paragraph only the broad opinion kept, long enough to read as prose here." * 2
    assert len(prose) >= PROSE_CHARS
    precise = "\n".join(PARAGRAPHS)
    broad = "\n".join(["Home | World | Sport", PARAGRAPHS[0], prose, *PARAGRAPHS[1:], "Top"])
    combined = combine_opinions(precise, broad).splitlines()
    assert combined == [PARAGRAPHS[0], prose, *PARAGRAPHS[1:]]


def test_table_rows_between_agreed_paragraphs_are_kept_and_outside_them_not() -> None:
    precise = "\n".join(PARAGRAPHS)
    broad = "\n".join(["| nav | menu |", PARAGRAPHS[0], "| 2019 | 4 |", *PARAGRAPHS[1:]])
    assert combine_opinions(precise, broad).splitlines() == [
        PARAGRAPHS[0],
        "| 2019 | 4 |",
        *PARAGRAPHS[1:],
    ]


def test_paragraphs_only_the_precise_opinion_found_are_not_lost() -> None:
    assert combine_opinions("\n".join(PARAGRAPHS), "").splitlines() == PARAGRAPHS


# boilerplate


@pytest.mark.parametrize(
    "line",
    [
        "Read also: Lavrov and Pompeo to meet in Sochi",
        "Related: Lavrov and Pompeo to meet in Sochi",
        "MIRA: Lavrov y Pompeo se reúnen en Sochi",
        "READ MORE: Arctic Council ends without declaration",
        "Lesen Sie auch: Gipfel in Finnland",
        "Lea también: Reunión en Rovaniemi",
        "Czytaj też: Spotkanie w Finlandii",
        "Share this article on Facebook",
        "Follow us on Twitter",
        "We use cookies to improve your experience on our website.",
        "Diese Webseite verwendet Cookies.",
        ">> Mehr Nachrichten aus der Region <<",
        "Foto: Michael von Lingen",
        "(Credit: Clayton Aldern / Grist)",
        "Crédits photos : Bestimage",
        "© Thomson Reuters 2020",
        "Lea: Consejo Permanente de la OEA aborda la confiscación de sus oficinas",
        "Sign up for the Example Daily newsletter",
        "Subscribe now to our print edition for the full story.",
        "To view the full story, please subscribe to The Example Times.",
        "If you are already a subscriber, you can log in for immediate access.",
        "For breaking news updates download the Example News apps for iOS and Android.",
        "Follow The Example Herald on Twitter and Instagram @ExampleHerald",
        "Zum Newsletter anmelden",
        "¡Mira lo que tiene nuestro canal de YouTube!",
        "Copyright 2023 Example Television Corp. All rights reserved.",
        "This article is the copyrighted property of Example News.",
        "Advertisement",
        "REKLAMA",
        "Story continues below advertisement",
        "Submit your letter to the editor via this form.",
        "We want to hear what you think about this article.",
        "*Werbung. Dieser Beitrag enthält Werbung für eine Marke.",
        "Anzeige, enthält Affiliate Links",
        "Marco Odermatt, Ski-Star aus der Schweiz. © AFP / MARCO BERTORELLO",
        "Die Altstadt im Winter. Foto: dpa",
        "Lavrov and Pompeo in Sochi. Photo: Jonathan Nackstrand/AFP",
    ],
)
def test_link_share_and_cookie_lines_are_boilerplate(line: str) -> None:
    assert is_boilerplate_line(line)


@pytest.mark.parametrize(
    "line",
    [
        PARAGRAPHS[0],
        "The bakery sold cookies at the summit.",
        "Related talks are planned for June.",
        "Photographers waited outside the building for an hour.",
        "New users can get $10 when they sign up for (and verify) an account.",
        "Trains follow the same guidelines on luggage as buses do.",
        "The licences sit between all rights reserved and the public domain.",
        "Advertisement revenue fell by a third in the first quarter.",
        "The newsletter was first published in 1998 by two students.",
        "Some users asked whether he was using the trip as Werbung für sich selbst.",
        "In a letter to the editor, the minister defended the plan.",
        "Anzeige gegen Unbekannt wurde am Montag erstattet.",
        # Long lines are prose, whatever they open with.
        "Read also the statement, which ran to four pages and said that both governments "
        "would keep talking about arms control, the Arctic and the war in Syria in the "
        "months before the leaders meet, possibly in Osaka at the end of June this year.",
    ],
)
def test_prose_is_not_boilerplate(line: str) -> None:
    assert not is_boilerplate_line(line)


@pytest.mark.parametrize(
    "marker", ["Related stories", "NOTAS RELACIONADAS", "Weitere Artikel zum Thema", "Mehr Themen:"]
)
def test_a_related_list_after_the_article_is_cut(marker: str) -> None:
    text = "\n".join([*PARAGRAPHS, marker, "Putin to visit Japan", "Sochi talks"])
    assert remove_boilerplate(text).splitlines() == PARAGRAPHS


def test_a_heading_like_marker_early_in_the_text_removes_only_itself() -> None:
    text = "\n".join(["Comments", *PARAGRAPHS])
    assert remove_boilerplate(text).splitlines() == PARAGRAPHS


_LEAD = (
    "Both ministers arrived in Lapland on Sunday evening, a day before the council opened, "
    "and met their Finnish host over dinner."
)


def _article_with_a_teaser_lead(paragraphs: int) -> str:
    # The precise reading drops a block classed "teaser"; the broad reading keeps it.
    body = "".join(f"<p>{PARAGRAPHS[i % 3]} ({i})</p>" for i in range(paragraphs))
    return _page(f'<div class="teaser"><p>{_LEAD}</p></div>{body}')


def test_a_short_precise_reading_is_widened_by_the_broad_readings_prose() -> None:
    text = extract_article(_article_with_a_teaser_lead(3)).text
    assert len(text) < BROAD_BELOW_CHARS
    assert _LEAD in text


def test_a_long_precise_reading_is_not_asked_to_widen() -> None:
    text = extract_article(_article_with_a_teaser_lead(40)).text
    assert len(text) >= BROAD_BELOW_CHARS
    assert _LEAD not in text


def test_read_also_lists_inside_the_body_are_removed_from_the_article() -> None:
    html = _page(
        f"<p>{PARAGRAPHS[0]}</p><p>Read also: Lavrov to visit Tokyo next week</p>"
        f"<p>{PARAGRAPHS[1]}</p><p>Share this article</p><p>{PARAGRAPHS[2]}</p>"
    )
    text = extract_article(html).text
    assert "Read also" not in text
    assert "Share this" not in text
    assert all(p in text for p in PARAGRAPHS)


def test_text_and_title_are_in_composed_unicode() -> None:
    decomposed = unicodedata.normalize("NFD", "Café Ñandú in Tōkyō: Lavrov über Sicherheit")
    html = (
        _page(_paragraphs(decomposed * 3))
        .replace("<title>Ministers meet in Rovaniemi</title>", f"<title>{decomposed}</title>")
        .replace("<h1>Ministers meet in Rovaniemi</h1>", f"<h1>{decomposed}</h1>")
    )
    article = extract_article(html)
    composed = unicodedata.normalize("NFC", decomposed)
    assert composed * 3 in article.text
    assert article.title == composed


# the lead

_STANDFIRST = (
    "Russia and the United States agreed to keep talking about arms control, their foreign "
    "ministers said after an hour in Rovaniemi."
)


def _page_with_lead(where: str) -> str:
    description = f'<meta property="og:description" content="{_STANDFIRST}">'
    shown = f'<p class="standfirst">{_STANDFIRST}</p>'
    body = (
        f"<header>{shown if where == 'tagline' else ''}<h1>Ministers meet in Rovaniemi</h1>"
        f"{shown if where == 'header' else ''}"
        f"</header><article>{_paragraphs()}</article>"
        f"<footer>{shown if where == 'footer' else ''}</footer>"
    )
    if where == "script":  # before the article, but not shown
        body = f'<script>var page = {{"summary": "{_STANDFIRST}"}};</script>' + body
    return (
        f'<html lang="en"><head><title>Ministers meet in Rovaniemi</title>{description}'
        f"</head><body>{body}</body></html>"
    )


def test_a_lead_shown_above_the_article_opens_the_text() -> None:
    text = extract_article(_page_with_lead("header")).text
    assert text.splitlines()[0] == _STANDFIRST
    assert all(p in text for p in PARAGRAPHS)


@pytest.mark.parametrize("where", ["footer", "nowhere", "script", "tagline"])
def test_a_description_not_shown_above_the_article_is_not_its_lead(where: str) -> None:
    assert _STANDFIRST not in extract_article(_page_with_lead(where)).text


def test_the_lead_follows_the_headline() -> None:
    text = with_lead(
        "Ministers meet in Rovaniemi\n" + "\n".join(PARAGRAPHS),
        _STANDFIRST,
        "Ministers meet in Rovaniemi",
        lxml.html.fromstring(
            f"<html><body><h1>Ministers meet in Rovaniemi</h1><p>{_STANDFIRST}</p>"
            f"{_paragraphs()}</body></html>"
        ),
    )
    assert text.splitlines()[:3] == ["Ministers meet in Rovaniemi", _STANDFIRST, PARAGRAPHS[0]]


# metadata


def _json_ld(**fields: object) -> str:
    data = {"@context": "https://schema.org", "@type": "NewsArticle", **fields}
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def test_declared_metadata_is_read() -> None:
    head = (
        '<link rel="canonical" href="https://news.example/world/rovaniemi-talks">'
        '<meta property="og:image" content="https://news.example/img/lead.jpg">'
        '<meta property="og:site_name" content="Example News">'
        + _json_ld(
            headline="Ministers meet in Rovaniemi",
            datePublished="2019-05-06T18:55:00+03:00",
            dateModified="2019-05-07T09:10:00+03:00",
            author={"@type": "Person", "name": "Anna Virtanen"},
        )
    )
    article = extract_article(_page(_paragraphs(), head), "https://news.example/a?utm_source=x")
    assert article.title == "Ministers meet in Rovaniemi"
    assert article.published == "2019-05-06"
    assert article.modified == "2019-05-07"
    assert article.authors == ["Anna Virtanen"]
    assert article.site_name == "Example News"
    assert article.language == "en"
    assert article.canonical_url == "https://news.example/world/rovaniemi-talks"
    assert article.image == "https://news.example/img/lead.jpg"
    content = article.content()
    assert (content.modified, content.canonical_url, content.image) == (
        "2019-05-07",
        "https://news.example/world/rovaniemi-talks",
        "https://news.example/img/lead.jpg",
    )


def test_the_publications_name_is_not_an_author() -> None:
    article = extract_article((PAGES / "usatoday-2017-putin-trump-call.html").read_text())
    assert article.site_name == "USA TODAY"
    assert article.authors == []


_SITE_AS_AUTHOR = (
    '<meta name="author" content="USA TODAY"><meta property="og:site_name" content="USA TODAY">'
)


def test_a_person_in_the_byline_is_the_author_when_the_site_names_itself() -> None:
    byline = (
        '<div class="asset-metabar"><span class="asset-metabar-author">Oren Dorell</span></div>'
    )
    article = extract_article(_page(byline + _paragraphs(), _SITE_AS_AUTHOR))
    assert article.authors == ["Oren Dorell"]


def test_a_person_declared_beside_an_organisation_author_is_the_author() -> None:
    head = _json_ld(
        author=[
            {"@type": "Organization", "name": "USA TODAY"},
            {"@type": "Person", "name": "Oren Dorell"},
        ],
        publisher={"@type": "Organization", "name": "USA TODAY"},
    )
    article = extract_article(_page(_paragraphs(), _SITE_AS_AUTHOR + head))
    assert article.authors == ["Oren Dorell"]


def test_a_site_named_after_its_author_keeps_the_author() -> None:
    head = (
        '<meta name="author" content="Anna Virtanen">'
        '<meta property="og:site_name" content="Anna Virtanen">'
    )
    head += _json_ld(author={"@type": "Person", "name": "Anna Virtanen"})
    assert extract_article(_page(_paragraphs(), head)).authors == ["Anna Virtanen"]


def test_undeclared_dates_stay_empty_rather_than_today() -> None:
    article = extract_article(_page(_paragraphs()))
    assert article.published is None
    assert article.modified is None


@pytest.mark.parametrize(
    ("raw", "tag"),
    [("en-GB", "en"), ("de_DE", "de"), ("FR", "fr"), ("", None), ("english!", None), (None, None)],
)
def test_language_tags_are_reduced_to_the_language(raw: str | None, tag: str | None) -> None:
    assert language_tag(raw) == tag


def test_language_is_detected_when_the_page_declares_none() -> None:
    german = (
        "Die Außenminister trafen sich am Montag in der finnischen Stadt Rovaniemi. Das "
        "Gespräch dauerte mehr als eine Stunde, wie beide Seiten mitteilten, und es sei "
        "sachlich gewesen. Weitere Treffen werden nach Angaben der Delegationen vorbereitet, "
        "auch ein Treffen der Präsidenten ist nicht ausgeschlossen."
    )
    article = extract_article(_page(f"<p>{german}</p><p>{german}</p>", lang=""))
    assert article.language == "de"


def test_too_few_common_words_detect_no_language() -> None:
    assert detect_language("Rovaniemi Lavrov Pompeo 2019") is None


# not an article


def test_error_page_is_not_an_article() -> None:
    html = (
        "<html><head><title>404 Page not found</title></head><body><main><h1>Page not found"
        "</h1><p>Sorry, the page you were looking for has moved or never existed on this "
        "site. Try the search box above, or go back to the front page to find today's news "
        "and the stories our readers liked most this week. If you followed a link from "
        "another site, please let its owner know that the link is broken.</p></main>"
        "</body></html>"
    )
    with pytest.raises(NotAnArticle, match=r"error page \(title 'Page not found'\)"):
        extract_article(html)


def test_short_article_whose_headline_names_an_error_is_an_article() -> None:
    html = _page(_paragraphs()).replace("Ministers meet in Rovaniemi", "Error in vote count")
    article = extract_article(html)
    assert article.title == "Error in vote count"


def test_paywall_stub_is_not_an_article() -> None:
    teaser = PARAGRAPHS[0] + " " + PARAGRAPHS[1]
    html = _page(
        f"<p>{teaser}</p><p>Subscribe to continue reading this article.</p>",
        _json_ld(isAccessibleForFree="False"),
    )
    with pytest.raises(NotAnArticle, match="paywall: only a teaser is readable"):
        extract_article(html)


def test_whole_article_marked_not_free_is_an_article() -> None:
    # Sites mark articles they serve in full as not free to read, too.
    body = _paragraphs(*PARAGRAPHS[::-1], *(p.upper() for p in PARAGRAPHS))
    article = extract_article(_page(body, _json_ld(isAccessibleForFree=False)))
    assert len(article.text) > 1000


def test_free_article_is_an_article() -> None:
    html = _page(_paragraphs(), _json_ld(isAccessibleForFree=True))
    assert extract_article(html).text


def test_listing_page_is_not_an_article() -> None:
    items = "".join(
        f"<li><h2>Headline number {i} about the talks in Finland</h2></li>" for i in range(12)
    )
    html = (
        '<html lang="en"><head><title>World</title>'
        '<meta property="og:type" content="website"></head><body><main><ul>'
        f"{items}</ul></main></body></html>"
    )
    with pytest.raises(NotAnArticle, match="index or list page"):
        extract_article(html)


def test_short_lines_of_an_article_page_are_not_a_listing() -> None:
    # A poem, a recipe or lyrics: short lines, but the page says it is an article.
    lines = "".join(f"<p>Line {i} of a poem about the northern lights</p>" for i in range(12))
    html = _page(lines, '<meta property="og:type" content="article">')
    assert len(extract_article(html).text.splitlines()) >= 12


def test_json_ld_body_is_used_when_the_markup_hides_the_text() -> None:
    html = _page("<div id='app'></div>", _json_ld(articleBody="\n".join(PARAGRAPHS)))
    text = extract_article(html).text
    assert all(p in text for p in PARAGRAPHS)


# bounded work


def test_page_over_the_size_limit_is_refused_before_parsing() -> None:
    html = _page(_paragraphs())
    with pytest.raises(NotAnArticle, match=rf"page too large to clean \({len(html)} characters"):
        extract_article(html, max_html_chars=len(html) - 1)


def test_page_nesting_too_deeply_is_refused() -> None:
    deep = "<div>" * 60 + _paragraphs() + "</div>" * 60
    with pytest.raises(NotAnArticle, match="page nests elements deeper than 50 levels"):
        extract_article(_page(deep), max_depth=50)
    assert extract_article(_page(deep), max_depth=100).text


@pytest.mark.parametrize("name", sorted(p.name for p in PAGES.glob("*.html")))
def test_fixture_pages_declare_english_and_a_canonical_url(name: str) -> None:
    article = extract_article((PAGES / name).read_text(encoding="utf-8"))
    assert article.language == "en"
    assert article.canonical_url
    assert article.canonical_url.startswith("https://")
