"""shared.urls: one canonical spelling per article URL, and an id stable for it."""

from __future__ import annotations

import pytest

from shared.errors import PermanentError
from shared.urls import MAX_URL_LENGTH, InvalidUrl, article_id, canonical_url

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM/News", "http://example.com/News"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("http://example.com/a#section-2", "http://example.com/a"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com?x=1", "http://example.com/?x=1"),
        ("http://example.com./a", "http://example.com/a"),
        ("  http://example.com/a  ", "http://example.com/a"),
        ("http://[::1]:80/a", "http://[::1]/a"),
        ("http://[2001:DB8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
    ],
)
def test_canonical_url_normalises_scheme_host_port_fragment_and_path(
    url: str, expected: str
) -> None:
    assert canonical_url(url) == expected


def test_tracking_parameters_are_removed_and_the_others_sorted_by_name() -> None:
    url = (
        "https://www.example.com/world/story?b=2&utm_source=tw&a=1&fbclid=IwAR0"
        "&UTM_Medium=social&gclid=xyz&page=3"
    )
    assert canonical_url(url) == "https://www.example.com/world/story?a=1&b=2&page=3"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # Dot segments (RFC 3986, 5.2.4); empty segments are kept.
        ("http://example.com/a/./b", "http://example.com/a/b"),
        ("http://example.com/a/b/../c", "http://example.com/a/c"),
        ("http://example.com/a/b/..", "http://example.com/a/"),
        ("http://example.com/a/.", "http://example.com/a/"),
        ("http://example.com/../../a", "http://example.com/a"),
        ("http://example.com/a/%2e%2E/b", "http://example.com/b"),
        ("http://example.com/a//b", "http://example.com/a//b"),
        ("http://example.com/a/", "http://example.com/a/"),
        ("http://example.com/a..b/.c", "http://example.com/a..b/.c"),
        # Percent-escapes: one case, unreserved characters decoded, reserved kept encoded.
        ("http://example.com/%7euser/%41%2d%5F", "http://example.com/~user/A-_"),
        ("http://example.com/a%2fb%3ac", "http://example.com/a%2Fb%3Ac"),
        ("http://example.com/caf%c3%a9", "http://example.com/caf%C3%A9"),
        ("http://example.com/café", "http://example.com/caf%C3%A9"),
        ("http://example.com/a%20b", "http://example.com/a%20b"),
        ("http://example.com/100%", "http://example.com/100%"),
        ("http://example.com/?q=%e9&x=%7e", "http://example.com/?q=%E9&x=~"),
        ("http://example.com/?q=caf%C3%A9", "http://example.com/?q=caf%C3%A9"),
        ("http://example.com/?q=café", "http://example.com/?q=caf%C3%A9"),
        # Reserved characters in the query keep their meaning.
        ("http://example.com/?q=a%26b%3Dc", "http://example.com/?q=a%26b%3Dc"),
        ("http://example.com/?q=a%2Bb&r=a+b", "http://example.com/?q=a%2Bb&r=a+b"),
        ("http://example.com/?q=a=b", "http://example.com/?q=a=b"),
        # Parameters sorted by name; one name's values keep their order.
        ("http://example.com/?b=1&a=2&c=3", "http://example.com/?a=2&b=1&c=3"),
        ("http://example.com/?id=2&id=1&a=0", "http://example.com/?a=0&id=2&id=1"),
        ("http://example.com/?B=1&a=2", "http://example.com/?B=1&a=2"),
        # Empty query, trailing `?`, empty parameters; a name without `=` stays so.
        ("http://example.com/a?", "http://example.com/a"),
        ("http://example.com?", "http://example.com/"),
        ("http://example.com/a?&&b=1&", "http://example.com/a?b=1"),
        ("http://example.com/a?flag&b=", "http://example.com/a?b=&flag"),
        # Path case and the trailing slash change meaning: kept.
        ("http://example.com/News/", "http://example.com/News/"),
    ],
)
def test_path_and_query_are_spelled_one_way(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_query_of_only_tracking_parameters_leaves_no_question_mark() -> None:
    assert canonical_url("http://example.com/a?utm_campaign=x&fbclid=y") == "http://example.com/a"


def test_parameter_that_merely_contains_utm_is_kept() -> None:
    assert canonical_url("http://example.com/a?noutm_x=1") == "http://example.com/a?noutm_x=1"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://Bücher.example/x", "http://xn--bcher-kva.example/x"),
        ("http://BÜCHER.example/x", "http://xn--bcher-kva.example/x"),
        ("https://пример.рф/", "https://xn--e1afmkfd.xn--p1ai/"),
    ],
)
def test_idn_host_is_given_in_punycode(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "HTTP://Example.com:80/a?b=1&utm_source=x#frag",
        "https://пример.рф/статья?q=a%20b",
        "http://example.com?a",
        "https://example.com:8443/p?x=%2B&y=",
        "http://example.com/a/./b/../%7ec?z=1&a=%e9&a=2&&",
        "http://example.com/caf%c3%a9/é?q=é",
    ],
)
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@pytest.mark.parametrize(
    ("url", "reason_part"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://x", "scheme must be http or https, not 'ftp'"),
        ("javascript:alert(1)", "scheme must be http or https"),
        ("example.com/a", "scheme must be http or https, not 'missing'"),
        ("not a url", "whitespace"),
        ("http://exa mple.com/", "whitespace"),
        ("http://example.com/a\tb", "whitespace"),
        ("http://example.com/a\x00", "control characters"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("http://:80/", "no host"),
        ("http://user:pw@host/", "credentials"),
        ("http://user@host/", "credentials"),
        ("http://example.com:99999/", "malformed"),
        ("http://example.com:port/", "malformed"),
        ("http://example.com/\ud800", "not valid text"),
        ("http://example.com/?q=\udcff", "not valid text"),
    ],
)
def test_invalid_url_names_the_problem(url: str, reason_part: str) -> None:
    with pytest.raises(InvalidUrl) as excinfo:
        canonical_url(url)
    assert reason_part in excinfo.value.reason
    assert str(excinfo.value) == excinfo.value.reason


def test_overlong_url_is_refused() -> None:
    url = "http://example.com/" + "a" * MAX_URL_LENGTH
    with pytest.raises(InvalidUrl, match=f"longer than {MAX_URL_LENGTH} characters"):
        canonical_url(url)


def test_url_at_the_length_limit_is_accepted() -> None:
    prefix = "http://example.com/"
    url = prefix + "a" * (MAX_URL_LENGTH - len(prefix))
    assert canonical_url(url) == url


def test_invalid_url_is_a_permanent_error() -> None:
    # A bad URL cannot become good by retrying: the stage must dead-letter it at once.
    assert issubclass(InvalidUrl, PermanentError)


def test_article_id_is_stable_for_spellings_of_one_url() -> None:
    spellings = [
        "http://example.com/a",
        "HTTP://EXAMPLE.com:80/a#top",
        "http://example.com/a?utm_source=newsletter",
        "http://example.com/b/../a?",
        "http://example.com/%61",
    ]
    ids = {article_id(canonical_url(url)) for url in spellings}
    assert len(ids) == 1
    (only,) = ids
    assert len(only) == 20
    assert all(ch in "0123456789abcdef" for ch in only)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("http://example.com/a", "http://example.com/b"),
        ("http://example.com/a", "https://example.com/a"),
        ("http://example.com/a", "http://example.com:8080/a"),
        ("http://example.com/a?id=1", "http://example.com/a?id=2"),
        ("http://example.com/A", "http://example.com/a"),
        ("http://example.com/a/b", "http://example.com/a%2Fb"),
        ("http://example.com/?q=a%26b", "http://example.com/?q=a&b"),
        ("http://example.com/?q=a%2Bb", "http://example.com/?q=a+b"),
        ("http://example.com/?id=1&id=2", "http://example.com/?id=2&id=1"),
        ("http://example.com/a", "http://example.com/a/"),
    ],
)
def test_article_id_differs_for_different_urls(first: str, second: str) -> None:
    assert article_id(canonical_url(first)) != article_id(canonical_url(second))
