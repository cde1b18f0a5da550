"""services.fetch.fetcher.decode_html: BOM, then header charset, then <meta>, then detection."""

from __future__ import annotations

import pytest

from services.fetch.fetcher import decode_html

pytestmark = pytest.mark.unit

RUSSIAN = (
    "Министр иностранных дел России Сергей Лавров заявил, что президенты России и США "
    "могут встретиться в ближайшее время. По его словам, стороны обсудили широкий круг "
    "вопросов, включая стратегическую стабильность, ситуацию в Венесуэле и на Корейском "
    "полуострове. Переговоры прошли в конструктивной атмосфере, отметил министр."
)
JAPANESE = "東京で首脳会談が開かれ、両国の外相が協力の拡大について話し合いました。"


def _page(body: str, head: str = "") -> str:
    return f"<html><head>{head}<title>News</title></head><body><p>{body}</p></body></html>"


def test_utf8_bom_wins_over_a_wrong_header_charset() -> None:
    html = _page(RUSSIAN)
    body = b"\xef\xbb\xbf" + html.encode("utf-8")
    assert decode_html(body, "text/html; charset=iso-8859-1") == html


def test_utf16_bom() -> None:
    html = _page(JAPANESE)
    assert decode_html(b"\xff\xfe" + html.encode("utf-16-le"), None) == html
    assert decode_html(b"\xfe\xff" + html.encode("utf-16-be"), None) == html


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html; charset=windows-1251",
        'text/html; charset="windows-1251"',
        "text/html;charset=CP1251",
    ],
)
def test_header_charset(content_type: str) -> None:
    html = _page("Сергей Лавров")  # short: only the header can tell its encoding
    assert decode_html(html.encode("cp1251"), content_type) == html


def test_header_charset_wins_over_meta_charset() -> None:
    html = _page("Сергей Лавров", head='<meta charset="utf-8">')
    assert decode_html(html.encode("cp1251"), "text/html; charset=windows-1251") == html


@pytest.mark.parametrize(
    "meta",
    [
        '<meta charset="shift_jis">',
        "<meta charset=Shift_JIS>",
        '<meta http-equiv="Content-Type" content="text/html; charset=shift_jis">',
    ],
)
def test_meta_charset(meta: str) -> None:
    html = _page(JAPANESE, head=meta)
    assert decode_html(html.encode("shift_jis"), "text/html") == html


def test_meta_charset_wins_over_bytes_that_read_as_utf8() -> None:
    # "Ã©" in windows-1252 is b"\xc3\xa9", which is also valid UTF-8 for "é":
    # only the declaration tells them apart.
    html = _page("Mojibake: CafÃ©", head='<meta charset="windows-1252">')
    body = html.encode("cp1252")
    assert body.decode("utf-8") != html
    assert decode_html(body, None) == html


def test_unknown_declared_charset_falls_back_to_utf8() -> None:
    html = _page("Сергей Лавров")
    assert decode_html(html.encode("utf-8"), "text/html; charset=no-such-codec") == html


def test_undeclared_cp1251_is_detected() -> None:
    html = _page(RUSSIAN)
    body = html.encode("cp1251")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")  # the utf-8 fallback alone could not read it
    assert decode_html(body, None) == html
    assert decode_html(body, "text/html") == html


def test_plain_utf8_without_declaration() -> None:
    html = _page(RUSSIAN + " " + JAPANESE + " Café")
    assert decode_html(html.encode("utf-8"), None) == html


CHINESE = "外交部长在芬兰罗瓦涅米与美国国务卿举行会谈，双方讨论了战略稳定问题。"


def test_header_charset_that_does_not_fit_the_bytes_is_passed_over() -> None:
    html = _page(RUSSIAN)
    assert decode_html(html.encode("cp1251"), "text/html; charset=utf-8") == html


def test_gb2312_label_reads_as_its_gbk_superset() -> None:
    html = _page(CHINESE + " 镕", head='<meta charset="gb2312">')  # 镕 is GBK, not GB2312
    assert decode_html(html.encode("gb18030"), "text/html") == html


def test_undeclared_chinese_and_japanese_are_detected() -> None:
    chinese = _page(CHINESE * 3)
    assert decode_html(chinese.encode("gb18030"), None) == chinese
    japanese = _page(JAPANESE * 3)
    assert decode_html(japanese.encode("shift_jis"), None) == japanese


def test_utf16_meta_label_in_ascii_bytes_means_utf8() -> None:
    html = _page("Сергей Лавров", head='<meta charset="utf-16">')
    assert decode_html(html.encode("utf-8"), None) == html
