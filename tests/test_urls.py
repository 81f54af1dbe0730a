"""crawlers.urls.canonical_url: every rule, and that variants of one article collapse to one key."""

from __future__ import annotations

import pytest

from crawlers.urls import canonical_host, canonical_url, is_tracking_param

ARTICLE = "https://vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html"


@pytest.mark.parametrize(
    "variant",
    [
        ARTICLE,
        "https://vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html?utm_source=rss&utm_medium=feed",
        "https://vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html?fbclid=abc&zarsrc=30",
        "https://m.vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html",
        "https://mobile.vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html",
        "https://amp.vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html",
        "https://www.vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html",
        "https://vnexpress.net/amp/nam-dinh-khanh-thanh-cau-4954454.html",
        "https://vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html/amp",
        "https://vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html/amp/",
        "https://vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.amp.html",
        "https://vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html?amp",
        "https://vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html?amp=1",
        "https://vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html?amp=true",
        "https://vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html?outputType=amp",
        "https://vnexpress-net.cdn.ampproject.org/c/s/vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html",
        "https://vnexpress-net.cdn.ampproject.org/v/s/m.vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html?amp_js_v=0.1&usqp=mq331AQ",
        "https://www.google.com/amp/s/amp.vnexpress.net/nam-dinh-khanh-thanh-cau-4954454.html",
        "HTTPS://M.VNEXPRESS.NET:443/nam-dinh-khanh-thanh-cau-4954454.html?utm_campaign=x&amp=1#binh-luan",
        "  https://m.vnexpress.net//nam-dinh-khanh-thanh-cau-4954454.html/amp?utm_source=zalo \n",
    ],
)
def test_utm_amp_and_mobile_variants_of_one_article_collapse_to_one_url(variant: str) -> None:
    assert canonical_url(variant) == ARTICLE


def test_different_articles_stay_different() -> None:
    keys = {
        canonical_url(url)
        for url in (
            "https://baonamdinh.vn/tin-tuc?id=1",
            "https://baonamdinh.vn/tin-tuc?id=2",
            "https://baonamdinh.vn/tin-tuc?id=1&page=2",
            "https://baonamdinh.vn/Tin/A-1.html",
            "https://baonamdinh.vn/tin/a-1.html",
            "https://baonamdinh.vn/tin/a-2.html",
            "https://namdinh.baonamdinh.vn/tin/a-1.html",
            "http://baonamdinh.vn:8080/tin/a-1.html",
        )
    }
    assert len(keys) == 8


def test_paths_are_case_sensitive_hosts_are_not() -> None:
    assert (
        canonical_url("https://BaoNamDinh.VN/Tin/A-1.html") == "https://baonamdinh.vn/Tin/A-1.html"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM/a", "http://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/a?", "https://example.com/a"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://user:secret@example.com/a", "https://user@example.com/a"),
        ("http://[::1]:8080/a/", "http://[::1]:8080/a"),
        ("http://127.0.0.1:8000/feed/", "http://127.0.0.1:8000/feed"),
    ],
)
def test_scheme_host_port_fragment(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com//", "https://example.com/"),
        ("https://example.com/tin/", "https://example.com/tin"),
        ("https://example.com/tin///", "https://example.com/tin"),
        ("https://example.com//tin//a.html", "https://example.com/tin/a.html"),
        ("https://example.com/a/./b/../c.html", "https://example.com/a/c.html"),
        ("https://example.com/../a", "https://example.com/a"),
    ],
)
def test_slashes_and_dot_segments(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # hex in upper case; unreserved characters decoded; reserved ones stay escaped
        ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
        ("https://example.com/%7Euser/%41-%5f", "https://example.com/~user/A-_"),
        ("https://example.com/%c3%a9", "https://example.com/%C3%A9"),
        # raw non-ASCII and unsafe characters are encoded as UTF-8, like a browser sends them
        ("https://example.com/tin/Nam-Định", "https://example.com/tin/Nam-%C4%90%E1%BB%8Bnh"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://example.com/100%", "https://example.com/100%25"),
    ],
)
def test_percent_encoding(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_raw_and_escaped_spellings_of_one_path_collapse() -> None:
    raw = canonical_url("https://example.com/tin/Nam-Định")
    assert raw == canonical_url("https://example.com/tin/Nam-%c4%90%e1%bb%8bnh")
    assert raw == canonical_url("https://example.com/tin/Nam-%C4%90%E1%BB%8Bnh")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/s?b=2&a=1", "https://example.com/s?a=1&b=2"),
        ("https://example.com/s?tag=b&x=1&tag=a", "https://example.com/s?tag=b&tag=a&x=1"),
        ("https://example.com/s?q=Nam Định", "https://example.com/s?q=Nam+%C4%90%E1%BB%8Bnh"),
        (
            "https://example.com/s?q=Nam+%C4%90%E1%BB%8Bnh",
            "https://example.com/s?q=Nam+%C4%90%E1%BB%8Bnh",
        ),
        (
            "https://example.com/s?q=Nam%20%c4%90%e1%bb%8bnh",
            "https://example.com/s?q=Nam+%C4%90%E1%BB%8Bnh",
        ),
        ("https://example.com/s?path=%2fa%2Fb", "https://example.com/s?path=%2Fa%2Fb"),
        # a Windows-1258 byte is kept as the byte it is, not replaced
        ("https://example.com/s?q=%D0", "https://example.com/s?q=%D0"),
        ("https://example.com/s?id=7&utm_source=x&gclid=1&_ga=2", "https://example.com/s?id=7"),
        ("https://example.com/s?amp=0", "https://example.com/s?amp=0"),
        ("https://example.com/s?outputType=json", "https://example.com/s?outputType=json"),
    ],
)
def test_query(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("m.vnexpress.net", "vnexpress.net"),
        ("amp.dantri.com.vn", "dantri.com.vn"),
        ("mobile.twitter.com", "twitter.com"),
        ("www.baonamdinh.vn", "baonamdinh.vn"),
        ("www.m.example.com", "example.com"),
        # only when a registrable domain remains
        ("m.co", "m.co"),
        ("www.com.vn", "www.com.vn"),
        ("m.com.vn", "m.com.vn"),
        ("amp.gov.vn", "amp.gov.vn"),
        ("m.co.uk", "m.co.uk"),
        ("m.github.io", "m.github.io"),
        ("m.localhost", "m.localhost"),
        ("amp.dev", "amp.dev"),
        # not a variant label
        ("mnews.example.com", "mnews.example.com"),
        ("ampm.example.com", "ampm.example.com"),
        ("news.m.example.com", "news.m.example.com"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_variant_host_labels(host: str, expected: str) -> None:
    assert canonical_host(host) == expected


def test_idn_hosts_are_punycode_whichever_form_arrives() -> None:
    unicode_form = canonical_url("https://Bánhmì.vn/a")
    assert unicode_form == "https://xn--bnhm-5na3e.vn/a"
    assert canonical_url("https://XN--BNHM-5NA3E.VN/a") == unicode_form
    assert canonical_url("https://www.bánhmì.vn/a") == unicode_form


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/tin/a.html/amp", "https://example.com/tin/a.html"),
        ("https://example.com/tin/a/amp/", "https://example.com/tin/a"),
        ("https://example.com/amp/tin/a.html", "https://example.com/tin/a.html"),
        ("https://example.com/news/world-123.amp", "https://example.com/news/world-123"),
        ("https://example.com/tin/a.amp.htm", "https://example.com/tin/a.htm"),
        # a page or section really named "amp" is not an AMP mark
        ("https://example.com/amp", "https://example.com/amp"),
        ("https://example.com/amp/", "https://example.com/amp"),
        ("https://example.com/tin/camp.html", "https://example.com/tin/camp.html"),
        ("https://example.com/tin/amp-thuc.html", "https://example.com/tin/amp-thuc.html"),
        ("https://example.com/tin/AMP", "https://example.com/tin/AMP"),
    ],
)
def test_amp_paths(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/path",
            "https://example.com/path",
        ),
        (
            "https://example-com.cdn.ampproject.org/c/example.com/path?id=3",
            "http://example.com/path?id=3",
        ),
        ("https://www.google.com/amp/s/example.com/a/amp/", "https://example.com/a"),
        ("https://google.com.vn/amp/s/example.com/a", "https://example.com/a"),
        # not an AMP cache address: kept as it is
        ("https://example-com.cdn.ampproject.org/", "https://example-com.cdn.ampproject.org/"),
        ("https://www.google.com/search?q=amp", "https://google.com/search?q=amp"),
    ],
)
def test_google_amp_cache_and_viewer_are_unwrapped(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["mailto:toasoan@baonamdinh.vn", "tag:feed:abc", "manual:0123abcd", "ftp://Example.com/A/"],
)
def test_other_schemes_are_only_trimmed(url: str) -> None:
    assert canonical_url(f" {url} ") == url


def test_tracking_parameter_names() -> None:
    assert all(map(is_tracking_param, ["utm_source", "UTM_Medium", "fbclid", "zarsrc", "amp_js_v"]))
    assert not any(map(is_tracking_param, ["id", "page", "q", "amp", "utmost"]))


def test_malformed_ipv6_is_a_value_error() -> None:
    # Adapters catch this and count the link as malformed (crawlers.gnews does).
    with pytest.raises(ValueError):
        canonical_url("http://[oops/")


def test_canonical_url_is_idempotent() -> None:
    urls = [
        "https://M.example.com//a/./b/amp/?b=2&a=%7e&utm_source=x#f",
        "https://example.com/tin/Nam-Định?q=Hải Hậu",
        "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/path",
        "http://[::1]:8080/x/",
    ]
    for url in urls:
        once = canonical_url(url)
        assert canonical_url(once) == once
