"""URL canonicalisation: one article, one key, whatever variant or tracking was glued onto it.

``canonical_url`` is the identity of an item across fetches and outlets' links, never the address
fetched (adapters keep the URL they were given for that). So it may merge spellings a server would
answer separately, as long as they are one article to a reader:

- scheme and host in lower case, IDN hosts in punycode (the form HTTP sends), no trailing dot,
  no default port, no fragment, no password;
- the ``www.``, mobile (``m.``, ``mobile.``) and AMP (``amp.``) first labels dropped when a
  registrable domain is left (``m.vnexpress.net`` -> ``vnexpress.net``; ``m.co``, ``m.com.vn`` stay);
- AMP paths: a trailing ``/amp`` segment, a leading ``/amp/`` segment, a ``.amp`` suffix of the
  last segment (``x.amp`` and ``x.amp.html``); query ``amp``/``amp=1``/``amp=true``, ``outputType=amp``;
- Google's AMP cache (``*.cdn.ampproject.org/c/s/host/path``) and viewer (``google.com/amp/s/...``)
  unwrapped to the publisher's URL;
- the path: percent-escapes in upper-case hex, unreserved characters decoded, other non-ASCII and
  unsafe characters encoded (UTF-8), repeated slashes and dot segments removed, no trailing slash
  except for the root; its case is kept (paths are case-sensitive);
- the query: tracking parameters dropped, the rest sorted by name (repeated names keep their order),
  in one encoding.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

# Parameters that only say how a reader arrived, never which page it is.
_TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_")
_TRACKING_NAMES = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "zarsrc",
        "gidzl",
        "utm",
        "ref_src",
        "cmpid",
        "spm",
        # Google's AMP viewer and cache add these to the publisher's query.
        "amp_js_v",
        "amp_gsa",
        "amp_ct",
        "amp_tf",
        "ampshare",
        "usqp",
    }
)
# Query parameters asking for the AMP rendering of the same article, by name -> values that do.
_AMP_PARAMS: dict[str, frozenset[str]] = {
    "amp": frozenset({"", "1", "true", "yes"}),
    "outputtype": frozenset({"amp"}),
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
# First host labels that name another rendering (or spelling) of the same site.
_VARIANT_LABELS = frozenset({"www", "m", "mobile", "amp"})
# Second-level labels under which a country code still makes a public suffix (com.vn, co.uk):
# without a public-suffix list, "m." is stripped only when more than such a suffix remains.
_SECOND_LEVELS = frozenset(
    {"com", "net", "org", "gov", "edu", "ac", "co", "info", "biz", "name", "pro", "int", "health"}
)
# Shared hosting suffixes where the first label is a customer's site, not a rendering.
_HOSTING_SUFFIXES = frozenset(
    {"github.io", "blogspot.com", "wordpress.com", "appspot.com", "herokuapp.com", "web.app"}
)
_AMP_CACHE_SUFFIX = ".cdn.ampproject.org"
_GOOGLE_HOST = re.compile(r"(?:www\.)?google(?:\.com?)?(?:\.[a-z]{2})?")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Characters a path keeps as they are: RFC 3986 pchar plus "/" and "%" of existing escapes.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_SLASHES = re.compile(r"/{2,}")
_AMP_SUFFIX = re.compile(r"\.amp(?=\.[A-Za-z0-9]{1,5}$|$)")


def is_tracking_param(name: str) -> bool:
    """Tell whether a query parameter only carries tracking information."""
    low = name.lower()
    return low in _TRACKING_NAMES or low.startswith(_TRACKING_PREFIXES)


def _is_amp_param(name: str, value: str) -> bool:
    values = _AMP_PARAMS.get(name.lower())
    return values is not None and value.lower() in values


def _registrable(labels: list[str]) -> bool:
    """Whether these host labels still name a site rather than a public suffix."""
    if len(labels) < 2:
        return False
    if len(labels) > 2:
        return True
    return not (labels[0] in _SECOND_LEVELS and len(labels[1]) == 2) and (
        ".".join(labels) not in _HOSTING_SUFFIXES
    )


def _ascii_host(host: str) -> str:
    host = host.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # a label too long or empty: keep it, lower-cased, as its own key
        return host


def canonical_host(host: str) -> str:
    """A host in lower-case ASCII without its www., mobile or AMP first label."""
    host = _ascii_host(host)
    if ":" in host or host.replace(".", "").isdigit():
        return host  # an IP address has no labels to drop
    labels = host.split(".")
    while labels[0] in _VARIANT_LABELS and _registrable(labels[1:]):
        labels = labels[1:]
    return ".".join(labels)


def _fix_escape(match: re.Match[str]) -> str:
    byte = int(match.group(1), 16)
    return chr(byte) if byte in _UNRESERVED else f"%{match.group(1).upper()}"


def _encode(text: str, safe: str) -> str:
    """Percent-escapes normalised, other non-ASCII or unsafe characters encoded as UTF-8."""
    if "%" in text:
        text = _ESCAPE.sub(_fix_escape, _STRAY_PERCENT.sub("%25", text))
    return quote(text, safe=safe)


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if path.endswith(("/.", "/..")):
        out.append("")
    return "/".join(out)


def canonical_path(path: str) -> str:
    """A URL path with escapes normalised, no empty or dot segments, AMP marks or trailing slash."""
    path = _encode(path, _PATH_SAFE)
    if "//" in path:
        path = _SLASHES.sub("/", path)
    if "/." in path:
        path = _remove_dot_segments(path)
    if "amp" in path:
        path = _drop_amp(path)
    path = path.rstrip("/")
    return path if path.startswith("/") else f"/{path}"


def _drop_amp(path: str) -> str:
    segments = path.split("/")  # "" first, as the path starts with "/"
    while segments and segments[-1] == "":
        segments.pop()
    if len(segments) > 2 and segments[-1] == "amp":
        segments.pop()
    if len(segments) > 2 and segments[1] == "amp":
        del segments[1]
    if len(segments) > 1:
        segments[-1] = _AMP_SUFFIX.sub("", segments[-1])
    return "/".join(segments)


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    # latin-1 round-trips any escaped bytes exactly; raw non-ASCII is first escaped as UTF-8.
    pairs = parse_qsl(_encode(query, "&=+%;/?:@!$'()*,-._~"), True, encoding="latin-1")
    kept = [(k, v) for k, v in pairs if not (is_tracking_param(k) or _is_amp_param(k, v))]
    kept.sort(key=lambda pair: pair[0])
    return urlencode(kept, encoding="latin-1")


def _unwrap_amp_cache(host: str, path: str) -> str | None:
    """The publisher's URL behind a Google AMP cache or viewer URL, else None."""
    if host.endswith(_AMP_CACHE_SUFFIX):
        prefixes: tuple[str, ...] = ("/c/", "/v/", "/i/", "/r/")
    elif _GOOGLE_HOST.fullmatch(host):
        prefixes = ("/amp/",)
    else:
        return None
    if not path.startswith(prefixes):
        return None
    rest = path[path.index("/", 1) + 1 :]
    scheme = "http"
    if rest.startswith("s/"):
        scheme, rest = "https", rest[2:]
    return f"{scheme}://{rest}" if rest and not rest.startswith("/") else None


def canonical_url(url: str) -> str:
    """Normalise an http(s) URL to its article's key (see the module docstring); others trimmed."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return url
    raw_host = _ascii_host(parts.hostname or "")
    inner = _unwrap_amp_cache(raw_host, parts.path)
    if inner is not None:
        query = f"?{parts.query}" if parts.query else ""
        return canonical_url(inner + query)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = canonical_host(raw_host)
    if ":" in host:
        host = f"[{host}]"  # IPv6, which .hostname gave without its brackets
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit(
        (scheme, netloc, canonical_path(parts.path), _canonical_query(parts.query), "")
    )
