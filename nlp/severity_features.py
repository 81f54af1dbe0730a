"""Features of an item that a severity model weighs, each one a reason a person can read.

``extract`` turns an item (its normalised head, segmented words, title, kind, and the topic and
tone scores) into a sparse ``{feature: value}`` map. Feature names say what they are:

    term:<term>      an alarm term of the configured lexicon (negated or everyday uses left out)
    lex:<level>      some alarm term of that lexicon level; ``lex:<level>:title`` in the title
    dead:<n>         people killed in the event, as counted in the text ("7 người tử vong")
    injured:<n>, missing:<n>, households:<n>, hospitalised:<n>   counted likewise
    cue:<name>       a kind of event or situation (``CUES``: evacuation, dike, outbreak, protest ...)
    target:<name>    who is criticised or disciplined (provincial leaders, an agency, a hospital ...)
    viral            the text says it is spreading
    kind:<kind>      the source kind (news, social, forum, manual)
    topic:<code>     the topic model's probability of the code; ``tone:negative`` / ``tone:positive``
    w:<n-gram>       a word or two-word n-gram of the segmented text (L2-normalised), ``t:<word>``
                     a word of the title

``describe`` gives the Vietnamese reason for a feature, as staff see it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nlp.normalize import fold, nfc_lower

# --- the configured lexicons -----------------------------------------------------------------

DEFAULT_LEXICON: dict[str, tuple[str, ...]] = {
    "critical": (
        "vỡ đê", "tràn đê", "sập cầu", "sập nhà", "nhiều người tử vong", "nhiều người thiệt mạng",
        "thương vong lớn", "cháy lớn", "nổ lớn", "lũ quét", "bạo loạn", "gây rối trật tự công cộng",
        "tụ tập đông người", "biểu tình", "dịch bùng phát", "ổ dịch", "ngộ độc tập thể",
        "mất tích trên biển", "khẩn cấp", "sơ tán",
    ),
    "alert": (
        "tử vong", "thiệt mạng", "chết", "tai nạn", "cháy", "nổ", "đuối nước", "ngộ độc", "ô nhiễm",
        "cá chết", "sạt lở", "ngập lụt", "bão", "dịch bệnh", "bị bắt", "bắt tạm giam", "khởi tố",
        "tham nhũng", "nhận hối lộ", "sai phạm", "tiêu cực", "tố cáo", "bức xúc", "khiếu kiện",
        "đơn thư", "kiến nghị tập thể", "lừa đảo", "hành hung", "gây phẫn nộ", "dân kêu trời",
    ),
    "watch": (
        "phản ánh", "kiến nghị", "khiếu nại", "chậm tiến độ", "xuống cấp", "bất cập", "vi phạm",
        "xử phạt", "cảnh báo", "thiếu", "quá tải", "ùn tắc", "mất điện", "mất nước",
    ),
}  # fmt: skip
# Everyday phrases that contain an alarm term but raise no alarm ("bùng nổ" doanh số, "cháy vé").
DEFAULT_IGNORE: tuple[str, ...] = (
    "bùng nổ", "cháy vé", "cháy hàng", "cháy túi", "bão giá", "cơn bão giá", "bão lòng", "nổ lực",
    "chết cười", "chết mê", "diễn tập", "phòng cháy", "chữa cháy", "phòng chống cháy nổ",
    "tai nạn lao động giảm", "xả lũ thành công", "dự báo bão", "không có thiệt hại",
)  # fmt: skip
# Signs that a post is spreading.
DEFAULT_VIRAL: tuple[str, ...] = (
    "lan truyền trên mạng", "lan truyền trên mạng xã hội", "gây bão mạng", "chia sẻ rầm rộ",
    "hàng nghìn lượt chia sẻ", "hàng nghìn bình luận", "xôn xao mạng xã hội", "viral",
    "gây xôn xao", "clip", "đăng tải lên mạng", "mạng xã hội facebook",
)  # fmt: skip
# A term right after one of these is denied, not reported ("không có ai tử vong").
_NEGATION = re.compile(
    r"(?:không|chưa|chẳng|ko|khong|chua)(?:\s+(?:có|co|bị|bi|ai|người|nguoi|hề|he)){0,2}\s*$"
)

# --- situations and targets, matched in the folded text ---------------------------------------
# Each is a regular expression over the accent-folded, lower-case text (so unaccented posts match)
# with the Vietnamese reason shown to staff.
CUES: dict[str, tuple[str, str]] = {
    "evacuation": (r"so tan|di doi (?:khan cap|dan|\d+ ho|hang)|di tan", "sơ tán, di dời dân"),
    "dike": (
        r"\bde\b[^.\n]{0,30}(?:vo|tran|sat|su co|tham lau|ro ri|mach sui|xung yeu)|(?:vo|tran|sat lo) de",
        "sự cố đê điều",
    ),
    "storm": (r"bao so \d+|sieu bao|ap thap nhiet doi|bao do bo|tam bao|con bao", "bão, áp thấp"),
    "landfall": (r"do bo|giat cap|mua lu|lu quet|ngap sau|trieu cuong|lu len", "thiên tai đang diễn ra"),
    "flood": (r"ngap lut|ngap ung|lu lut|nuoc lu|sat lo", "ngập lụt, sạt lở"),
    "outbreak": (
        r"o dich|bung phat|ca mac|duong tinh|cum a|h5n1|sot xuat huyet|tay chan mieng|dich benh",
        "dịch bệnh ở người",
    ),
    "animal_epidemic": (
        r"dich ta lon|lo mom long mong|cum gia cam|dich benh tren dan|tieu huy",
        "dịch bệnh gia súc, gia cầm",
    ),
    "poisoning": (r"ngo doc", "ngộ độc"),
    "protest": (
        r"tu tap dong nguoi|bieu tinh|gay roi|keo den tru so|vay tru so|dinh cong|phan doi|ngan can thi cong|chan xe",
        "tụ tập, phản đối, gây rối",
    ),
    "fire": (r"\bchay\b|hoa hoan|boc chay|phat hoa", "cháy"),
    "explosion": (r"phat no|vu no|no binh|no lon", "nổ"),
    "accident": (r"tai nan|dam xe|va cham|lat xe|tong xe|lao xuong", "tai nạn"),
    "drowning": (r"duoi nuoc|chet duoi|mat tich", "đuối nước, mất tích"),
    "violent_crime": (r"giet|sat hai|dam chet|cuop|hiep dam|bat coc|chem", "tội phạm nghiêm trọng"),
    "arrest": (r"bat giu|bat tam giam|tam giu|bat qua tang|truy na|bat khan cap", "bắt giữ"),
    "prosecution": (r"khoi to|truy to|xet xu|tuyen an|dieu tra", "khởi tố, điều tra, xét xử"),
    "misconduct": (
        r"sai pham|tham nhung|tham o|nhan hoi lo|loi dung chuc vu|lam dung chuc vu|lam gia|"
        r"gia mao|chat chem|nhung nhieu|tieu cuc|thieu trach nhiem|trom cap",
        "sai phạm, tiêu cực",
    ),
    "discipline": (
        r"ky luat|canh cao|khien trach|cach chuc|bai nhiem|dinh chi cong tac|cach het chuc vu",
        "kỷ luật",
    ),
    "petition": (r"khieu kien|khieu nai|don thu|to cao|kien nghi|don keu cuu", "khiếu nại, tố cáo"),
    "land": (r"tranh chap dat|thu hoi dat|giai phong mat bang|cuong che|lan chiem|dat dai", "đất đai"),
    "pollution": (r"o nhiem|xa thai|nuoc thai|ca chet|mui hoi|boc mui|khoi bui|rac thai", "ô nhiễm"),
    "complaint": (r"buc xuc|phan anh|keu troi|keu cuu|phan no|bat binh|lo lang|hoang mang", "người dân bức xúc"),
    "rumour": (r"tin don|sai su that|bac bo|tin gia|xuyen tac|thong tin sai", "tin đồn, thông tin sai"),
    "criticism": (r"chi trich|phe phan|len an|tai tieng|bi che|to ra|duoc bao chi", "bị chỉ trích"),
    "shortage": (r"mat dien|mat nuoc|thieu nuoc|khan hiem|qua tai|un tac|xuong cap|cham tien do", "thiếu, quá tải, xuống cấp"),
    "routine": (
        r"khai mac|be mac|hoi nghi|tong ket|ky niem|trao tang|chuc mung|le hoi|ra mat|khanh thanh|"
        r"dat giai|vo dich|tuyen duong|huan chuong",
        "sự kiện thường lệ, thành tích",
    ),
}  # fmt: skip
TARGETS: dict[str, tuple[str, str]] = {
    "province_leaders": (
        r"chu tich ubnd tinh|bi thu tinh uy|pho chu tich ubnd tinh|lanh dao tinh|ubnd tinh|tinh uy|hdnd tinh|chu tich tinh",
        "lãnh đạo tỉnh",
    ),
    "central": (
        r"ban bi thu|bo chinh tri|uy ban kiem tra trung uong|thu tuong|chinh phu|trung uong",
        "cấp trung ương",
    ),
    "agency": (
        r"\bso [a-z]|ubnd (?:huyen|xa|phuong|thi tran|thanh pho)|chi cuc|phong tai nguyen|cong an (?:huyen|xa|phuong)|thanh tra",
        "cơ quan, chính quyền địa phương",
    ),
    "hospital": (r"benh vien|tram y te|trung tam y te|bac si", "bệnh viện, cơ sở y tế"),
    "school": (r"truong (?:hoc|mam non|tieu hoc|thcs|thpt)|giao vien|hieu truong|co giao", "trường học"),
    "officials": (r"can bo|cong chuc|chu tich xa|chu tich huyen|bi thu|giam doc|truong phong|dang vien", "cán bộ, công chức"),
}  # fmt: skip

_NUMBER_WORDS = {
    "mot": 1, "hai": 2, "ba": 3, "bon": 4, "nam": 5, "sau": 6, "bay": 7, "tam": 8, "chin": 9,
    "muoi": 10, "hang chuc": 20, "hang tram": 100, "hang nghin": 1000, "hang ngan": 1000,
    "nhieu": 3, "vai": 2, "hang loat": 10, "chuc": 10,
}  # fmt: skip
_NUM = r"(\d+(?:[.,]\d{3})*|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + ")"
_WHO = r"(?:nguoi|nan nhan|hoc sinh|cong nhan|ngu dan|thuyen vien|chau|em|tre|benh nhan|ca)"
COUNTS: dict[str, tuple[re.Pattern[str], ...]] = {
    "dead": (
        re.compile(_NUM + rf"\s+{_WHO}(?:\s+\w+){{0,3}}?\s+(?:da\s+)?(?:tu vong|chet|thiet mang|tu nan|thuong vong)"),
        re.compile(r"(?:tu vong|chet|thiet mang|lam chet|cuop di sinh mang cua)\s+" + _NUM + rf"\s+{_WHO}"),
    ),
    "injured": (
        re.compile(_NUM + rf"\s+{_WHO}(?:\s+\w+){{0,3}}?\s+bi thuong"),
        re.compile(r"(?:bi thuong|lam bi thuong)\s+" + _NUM + rf"\s+{_WHO}"),
    ),
    "missing": (re.compile(_NUM + rf"\s+{_WHO}(?:\s+\w+){{0,2}}?\s+mat tich"),),
    "households": (re.compile(_NUM + r"\s+(?:ho dan|ho gia dinh|ho|ngoi nha|can nha|nha dan)\b"),),
    "hospitalised": (
        re.compile(_NUM + rf"\s+{_WHO}(?:\s+\w+){{0,3}}?\s+(?:nhap vien|cap cuu|ngo doc|mac benh|nhiem benh)"),
    ),
}  # fmt: skip
# The buckets each count falls in (its feature is the largest bucket reached).
BUCKETS: dict[str, tuple[int, ...]] = {
    "dead": (1, 2, 5),
    "injured": (1, 5),
    "missing": (1, 3),
    "households": (10, 100),
    "hospitalised": (5, 20),
}
COUNT_NAMES = {
    "dead": "người chết",
    "injured": "người bị thương",
    "missing": "người mất tích",
    "households": "hộ, nhà bị ảnh hưởng",
    "hospitalised": "người nhập viện, mắc bệnh",
}
TITLE_WORDS_WEIGHT = 0.5  # title words are a second, weaker copy of the title's n-grams


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The configured alarm terms, everyday phrases to ignore, and virality phrases."""

    terms: Mapping[str, Sequence[str]] = field(default_factory=lambda: DEFAULT_LEXICON)
    ignore: Sequence[str] = DEFAULT_IGNORE
    viral: Sequence[str] = DEFAULT_VIRAL


def _pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    forms = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not forms:
        return None
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(t) for t in forms) + r")(?!\w)")


def is_unaccented(text: str) -> bool:
    """Tell whether a Vietnamese text was typed without diacritics (common in social posts)."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 20 and sum(not c.isascii() for c in letters) < 0.02 * len(letters)


def _count(raw: str) -> int:
    raw = raw.replace(".", "").replace(",", "")
    return int(raw) if raw.isdigit() else _NUMBER_WORDS.get(raw, 0)


class Extractor:
    """Computes the features of one item (compiled once from the lexicon)."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or Lexicon()
        self._terms: dict[str, str] = {}  # form -> level, higher levels winning a shared form
        for level in ("watch", "alert", "critical"):
            for term in self.lexicon.terms.get(level, ()):
                self._terms[nfc_lower(term)] = level
        # Without diacritics a one-syllable term is an everyday word ("chay" run, "no" full).
        self._folded = {fold(t): t for t in self._terms if " " in t}
        self._exact_re = _pattern(list(self._terms))
        self._folded_re = _pattern(list(self._folded))
        self._ignore_re = _pattern([nfc_lower(t) for t in self.lexicon.ignore])
        self._ignore_folded_re = _pattern([fold(t) for t in self.lexicon.ignore if " " in t])
        self._viral_re = _pattern([fold(t) for t in self.lexicon.viral])
        self._cues = {name: re.compile(p) for name, (p, _) in CUES.items()}
        self._targets = {name: re.compile(p) for name, (p, _) in TARGETS.items()}

    def alarm_terms(self, text: str) -> list[str]:
        """The lexicon's terms found in ``text`` (accented forms), not negated nor ignored."""
        unaccented = is_unaccented(text)
        haystack = fold(text) if unaccented else nfc_lower(text)
        pattern = self._folded_re if unaccented else self._exact_re
        ignore = self._ignore_folded_re if unaccented else self._ignore_re
        if ignore is not None:
            haystack = ignore.sub(lambda m: " " * len(m.group()), haystack)
        found: list[str] = []
        for m in pattern.finditer(haystack) if pattern else ():
            if _NEGATION.search(haystack[max(0, m.start() - 25) : m.start()]):
                continue
            term = self._folded[m.group(1)] if unaccented else m.group(1)
            if term not in found:
                found.append(term)
        return found

    def level_of(self, term: str) -> str:
        """The lexicon level of a found term."""
        return self._terms[term]

    def extract(
        self,
        text: str,
        words: str,
        *,
        title: str = "",
        kind: str = "news",
        topic_scores: Mapping[str, float] | None = None,
        sentiment_scores: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """The features of one item (see the module docstring)."""
        out: dict[str, float] = {f"kind:{kind}": 1.0}
        for term in self.alarm_terms(text):
            out[f"term:{term}"] = 1.0
            out[f"lex:{self._terms[term]}"] = 1.0
        if title:
            for term in self.alarm_terms(title):
                out[f"lex:{self._terms[term]}:title"] = 1.0
        folded = fold(text)
        for name, pattern in self._cues.items():
            if pattern.search(folded):
                out[f"cue:{name}"] = 1.0
        if title:
            folded_title = fold(title)
            for name, pattern in self._cues.items():
                if pattern.search(folded_title):
                    out[f"cue:{name}:title"] = 1.0
        for name, pattern in self._targets.items():
            if pattern.search(folded):
                out[f"target:{name}"] = 1.0
        out.update(_counts(folded))
        if self._viral_re is not None and self._viral_re.search(folded):
            out["viral"] = 1.0
        for code, p in (topic_scores or {}).items():
            out[f"topic:{code}"] = round(p, 4)
        for tone in ("negative", "positive"):
            if sentiment_scores and tone in sentiment_scores:
                out[f"tone:{tone}"] = round(sentiment_scores[tone], 4)
        out.update(ngrams(words, title_words=_title_words(words, title)))
        return out


def _counts(folded: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, patterns in COUNTS.items():
        best = max((_count(m.group(1)) for p in patterns for m in p.finditer(folded)), default=0)
        reached = [b for b in BUCKETS[name] if best >= b]
        if reached:
            out[f"{name}:{reached[-1]}"] = 1.0
    return out


def _title_words(words: str, title: str) -> list[str]:
    # The title is the first line of the prepared text, so its segmented words open ``words``:
    # take tokens until they hold as many syllables as the title has words.
    wanted, taken, out = len(title.split()), 0, []
    for token in words.split():
        if taken >= wanted:
            break
        out.append(token)
        taken += token.count("_") + 1
    return out


def ngrams(words: str, *, title_words: Sequence[str] = ()) -> dict[str, float]:
    """Word 1- and 2-grams of segmented ``words`` (binary, L2-normalised) and title words."""
    tokens = [t for t in words.split() if any(c.isalnum() for c in t)]
    grams = set(tokens) | {f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)}
    out: dict[str, float] = {}
    if grams:
        value = 1.0 / math.sqrt(len(grams))
        out = {f"w:{g}": value for g in grams}
    title = {t for t in title_words if any(c.isalnum() for c in t)}
    if title:
        value = TITLE_WORDS_WEIGHT / math.sqrt(len(title))
        out.update({f"t:{t}": value for t in title})
    return out


def describe(feature: str, topic_names: Mapping[str, str] | None = None) -> str:
    """The Vietnamese reason a feature gives, as staff see it."""
    head, _, rest = feature.partition(":")
    if head == "term":
        return f"từ ngữ báo động “{rest}”"
    if head == "lex":
        level, _, where = rest.partition(":")
        names = {"watch": "cần theo dõi", "alert": "cần xử lý", "critical": "khẩn cấp"}
        return f"từ ngữ mức {names.get(level, level)}" + (" ở tiêu đề" if where else "")
    if head == "cue":
        name, _, where = rest.partition(":")
        return CUES[name][1] + (" (tiêu đề)" if where else "") if name in CUES else feature
    if head == "target":
        return f"nhắm tới {TARGETS[rest][1]}" if rest in TARGETS else feature
    if head in COUNTS:
        return f"từ {rest} {COUNT_NAMES[head]}"
    if head == "viral":
        return "đang lan truyền trên mạng"
    if head == "kind":
        return f"nguồn {rest}"
    if head == "topic":
        return f"chủ đề {(topic_names or {}).get(rest, rest)}"
    if head == "tone":
        return "giọng điệu tiêu cực" if rest == "negative" else "giọng điệu tích cực"
    if head in ("w", "t"):
        return f"cụm từ “{rest.replace('_', ' ')}”"
    return feature
