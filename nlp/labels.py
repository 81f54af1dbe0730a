"""Label codes of the shipped classifiers, and how each training corpus's labels map onto them.

The corpora in ``shared/data`` were labelled by other people for other purposes: news-site
sections, forum-comment polarity. Every table below says, label by label, which of our codes a
corpus label becomes, and ``None`` where it becomes none: an unmappable label is dropped, never
forced. The reason for each decision sits beside it so that a reviewer can disagree line by line.

Principles used for the topic tables:

* A section maps to a code when most of its articles are about what the code means for a
  provincial communications office (``The thao`` -> ``culture_society``: the issue counts sport
  as culture/society).
* A catch-all "society / current affairs" desk (VNTC ``Chinh tri Xa hoi``, VnExpress ``Thời sự``,
  baomoi ``con nguoi va xa hoi``) is dropped: its articles span education, health, labour,
  transport, disasters and politics, so any single code would teach the model that education or
  health words mean that code. ``policy_governance`` is taught by the domain examples instead.
* Foreign news and science (``The gioi``, ``Khoa hoc`` ...) are ``other``: outside what the office
  tracks by subject, and the model needs real examples of ``other`` to ever predict it. So are
  recipes, beauty tips, celebrity fashion and shop posts, as in the domain examples' conventions
  (``nlp/data/examples/README.md``).
* Codes no corpus covers (administrative_reform, infrastructure_transport, agriculture_fisheries,
  corruption_misconduct, policy_governance) come from examples written for this project
  (``nlp/data/examples``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

TOPICS: tuple[str, ...] = (
    "policy_governance",
    "administrative_reform",
    "economy_investment",
    "infrastructure_transport",
    "land_planning",
    "agriculture_fisheries",
    "environment_disaster",
    "health",
    "education",
    "public_order",
    "corruption_misconduct",
    "social_welfare",
    "culture_society",
    "digital_telecom",
    "other",
)
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
TASKS: Mapping[str, tuple[str, ...]] = MappingProxyType({"topic": TOPICS, "sentiment": SENTIMENTS})

# VNTC (Vu Cong Duy Hoang et al. 2007): 10 sections of 2006-era online newspapers, full articles.
VNTC10: Mapping[str, str | None] = MappingProxyType(
    {
        "Chinh tri Xa hoi": None,  # the society desk: education, health, tourism, politics mixed
        "Doi song": "culture_society",  # family, love-advice columns, lifestyle
        "Khoa hoc": "other",  # science and nature, mostly abroad
        "Kinh doanh": "economy_investment",
        "Phap luat": "public_order",  # crime reports, trials, smuggling
        "Suc khoe": "health",
        "The gioi": "other",  # foreign news
        "The thao": "culture_society",
        "Van hoa": "culture_society",  # arts, music, cinema, heritage
        "Vi tinh": "digital_telecom",  # computing, internet, telecoms
    }
)

# baomoi.com categories (TC201805): title + sapo, ~5,000 per category, noisy aggregator labels.
BAOMOI29: Mapping[str, str | None] = MappingProxyType(
    {
        "am thuc": "other",  # recipes and restaurants: ``other`` by the examples' convention
        "bat dong san": "land_planning",  # land prices, projects, planning: the nearest code
        "chinh tri va phap luat": "public_order",  # almost all crime and court reports
        "con nguoi va xa hoi": None,  # the society desk again: mixed
        "con nguoi va xa hoi - gia dinh va cac moi quan he - hon nhan": None,  # gossip, marriage
        "con nguoi va xa hoi - khoa hoc xa hoi - van hoa": "culture_society",
        "du lich": "culture_society",  # the issue puts tourism under culture_society
        "giao duc va viec lam - giao duc": "education",
        "giao duc va viec lam - viec lam": "social_welfare",  # jobs, wages, vocational training
        "khoa hoc": "other",
        # landslides, pollution, cold spells; also plain forecasts, which the examples call other
        "khoa hoc - sinh thai va moi truong": "environment_disaster",
        "kinh doanh va cong nghiep": "economy_investment",
        "lam dep va the hinh - suc khoe": None,  # beauty tips more than health news
        "lam dep và the hinh": "other",  # beauty tips
        "mang may tinh va vien thong": "digital_telecom",
        "may vi tinh va do dien tu": "digital_telecom",  # devices: the nearest code
        "may vi tinh va do dien tu - mang may tinh va vien thong": None,  # sampled rows: unrelated
        "mua sam": "other",  # shop posts from social media: what ``other`` must catch
        "mua sam - trang phuc": "other",  # celebrity fashion and gossip
        "nha vuon": None,  # house and garden mixed with hotels and cafés
        "sach va van hoc": None,  # mostly quotations, not news
        "so thich": None,  # hobby and promotional posts, mixed
        "suc khoe": "health",
        "tai chinh": "economy_investment",
        "tai chinh - dau tu - co phieu va trai phieu": "economy_investment",
        "the thao - the thao doi khang": "culture_society",
        "the thao - the thao dong doi - bong da": "culture_society",
        "thu cung va dong vat": None,  # pet shops and pet photos
        "tro choi": None,  # video games: no code
    }
)

# VnExpress sections 2019-20 (title + sapo).
VNEXPRESS: Mapping[str, str | None] = MappingProxyType(
    {
        "Kinh doanh": "economy_investment",
        "Giáo dục": "education",
        "Thể thao": "culture_society",
        "Giải trí": "culture_society",
        "Khoa học": "other",
        "Thế giới": "other",
        "Thời sự": None,  # current affairs: labour, transport, epidemics, politics mixed
        "Đời sống": "culture_society",
        "Sức khỏe": "health",
        "Du lịch": "culture_society",
        "Ý kiến": None,  # readers' opinion columns on any subject
        "Bất động sản": "land_planning",  # property market and projects: the nearest code
        "Pháp luật": "public_order",
        "Số hóa": "digital_telecom",
        "U23 Châu Á 2020": "culture_society",
        "SEA Games 2019": "culture_society",
        "Góc nhìn": None,  # opinion
    }
)

# The sentiment corpora already use negative / neutral / positive; only the spelling is checked.
POLARITY: Mapping[str, str | None] = MappingProxyType({s: s for s in SENTIMENTS})

# Our own examples are written with our codes.
TOPIC_CODES: Mapping[str, str | None] = MappingProxyType({t: t for t in TOPICS})


@dataclass(frozen=True, slots=True)
class Corpus:
    """A labelled file in the data directory and the table that maps its labels."""

    stem: str  # file name without ``.jsonl.gz``
    task: str
    labels: Mapping[str, str | None]
    origin: str


CORPORA: Mapping[str, Corpus] = MappingProxyType(
    {
        c.stem: c
        for c in (
            Corpus("topic_vntc10_train", "topic", VNTC10, "VNTC (RIVF 2007), MIT"),
            Corpus("topic_vntc10_test", "topic", VNTC10, "VNTC (RIVF 2007), MIT"),
            Corpus("topic_baomoi29", "topic", BAOMOI29, "baomoi TC201805, no licence stated"),
            Corpus("topic_vnexpress_train", "topic", VNEXPRESS, "VnExpress 2019-20, no licence"),
            Corpus("topic_vnexpress_test", "topic", VNEXPRESS, "VnExpress 2019-20, no licence"),
            Corpus("sentiment_vlsp2016_train", "sentiment", POLARITY, "VLSP 2016, no licence"),
            Corpus("sentiment_vlsp2016_test", "sentiment", POLARITY, "VLSP 2016, no licence"),
            Corpus("sentiment_uit_vsfc_train", "sentiment", POLARITY, "UIT-VSFC, research"),
            Corpus("sentiment_uit_vsfc_test", "sentiment", POLARITY, "UIT-VSFC, research"),
            Corpus(
                "sentiment_vnexpress_comments", "sentiment", POLARITY, "VnExpress comments, MIT"
            ),
        )
    }
)


def map_label(table: Mapping[str, str | None], label: str) -> str | None:
    """Our code for a corpus label, or None when the label is dropped (or unknown)."""
    return table.get(label.strip())


def mapping_report(task: str) -> dict[str, dict[str, str | None]]:
    """Every corpus table used for ``task``, as plain data for a model's manifest."""
    return {c.stem: dict(c.labels) for c in CORPORA.values() if c.task == task}
