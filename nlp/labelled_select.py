"""Which rows of the shared corpora go to the annotators: the candidates of the labelled corpus.

``python -m nlp.labelled_select --data ../shared/data --out nlp/data/labelled`` writes
``candidates.jsonl``: one reference per row (corpus file, row number, text hash, the stratum it
was picked for and its near-copy group), never the text. The pick is deterministic (hash order),
so the same data gives the same candidates. Strata:

- ``province``: every news row that names Nam Định, its former districts or its landmarks;
- ``lookalike``: rows naming a district or landmark name without the province (the footballer
  Lương Xuân Trường, another province's commune "Hải Hậu", a street named Thiên Trường ...);
- ``incident``: incident and complaint reports from other provinces, a fixed number per kind of
  event (accidents, fires, floods, pollution, misconduct, petitions ...): hard negatives for
  relevance and, labelled "as if it happened here", examples of severity;
- ``social``: Facebook/YouTube comments (ViHSD, UIT-VSMEC) and news comments (UIT-ViCTSD), half
  of them picked for complaint words, so tone and severity are seen on informal text.

Near-copies (one story printed twice, VNTC's train and test sharing an article, comments on one
article) share a ``group``; the labelled corpus is split by group (``nlp.labelled``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from nlp.corpora import read_jsonl, text_key
from nlp.dedup import band_keys, fingerprint
from nlp.normalize import fold

NEWS = (
    "topic_vntc10_train",
    "topic_vntc10_test",
    "topic_baomoi29",
    "topic_vnexpress_train",
    "topic_vnexpress_validate",
    "topic_vnexpress_test",
)
PROVINCE = re.compile(r"Nam Định|NAM ĐỊNH")
LOOKALIKES = (
    "Mỹ Lộc", "Vụ Bản", "Ý Yên", "Nam Trực", "Trực Ninh", "Xuân Trường", "Giao Thủy", "Giao Thuỷ",
    "Hải Hậu", "Nghĩa Hưng", "Đền Trần", "Phủ Dầy", "Phủ Giầy", "Chợ Viềng", "Xuân Thủy",
    "Thịnh Long", "Quất Lâm", "Cồn Lu", "Thiên Trường", "Thành Nam",
)  # fmt: skip
LOOKALIKE = re.compile("|".join(map(re.escape, LOOKALIKES)))
# Kinds of incident and complaint, each matched in the folded title and lead.
INCIDENTS: dict[str, str] = {
    "accident": r"tai nan|dam xe|lat xe|tong xe|xe tai|xe khach",
    "fire": r"chay nha|hoa hoan|boc chay|chay lon|chay rung|chay xuong|vu chay|no binh gas",
    "flood_storm": r"lu lut|lu quet|ngap lut|mua lu|sat lo|con bao|bao so|ap thap|vo de|tran de",
    "pollution": r"o nhiem|ca chet|rac thai|nuoc thai|xa thai|mui hoi|khoi bui",
    "misconduct": r"sai pham|tham nhung|nhan hoi lo|lam dung chuc vu|ky luat|canh cao|cach chuc|tham o",
    "petition_land": r"khieu kien|khieu nai|don thu|to cao|tranh chap dat|giai phong mat bang|thu hoi dat|cuong che",
    "food_health": r"ngo doc|dich benh|o dich|sot xuat huyet|dich ta|cum gia cam|lo mom long mong|benh vien",
    "drowning": r"duoi nuoc|chet duoi|mat tich",
    "crime_order": r"giet nguoi|cuop|truy bat|bat giu|khoi to|tam giam|gay roi|tu tap dong nguoi|hon chien|danh nhau",
    "complaint_service": r"buc xuc|phan anh|keu cuu|dan keu|nhung nhieu|cham tien do|xuong cap|chat chem",
}
INCIDENT_PATTERNS = {kind: re.compile(rf"\b(?:{p})\b") for kind, p in INCIDENTS.items()}
PER_INCIDENT = 100
# Other provinces named in the folded text: an incident "elsewhere" must say where it is.
ELSEWHERE = re.compile(
    r"\b(?:tinh|tp|thanh pho|huyen|quan|xa)\s+(?!nam dinh)[a-z]+(?:\s[a-z]+)?", re.I
)
SOCIAL: dict[str, int] = {  # file -> rows taken (half random, half with complaint words)
    "toxicity_vihsd_train": 180,
    "toxicity_victsd_train": 200,
    "emotion_uit_vsmec_train": 120,
}
COMPLAINT = re.compile(
    r"\b(?:dan|chinh quyen|can bo|cong an|xa|huyen|tinh|o nhiem|tai nan|lu|bao|benh vien|"
    r"tham nhung|buc xuc|chet|chay|duong|truong|thue|phat|dat|ngap|dich)\b"
)
LEAD_CHARS = 600


@dataclass(frozen=True, slots=True)
class Candidate:
    """A reference to one corpus row picked for labelling (no text)."""

    id: str  # "<file>:<row>" (row numbers count from 0, blank lines included)
    file: str
    row: int
    key: str  # nlp.corpora.text_key of the title and text: a check that the row is the same
    stratum: str
    kind: str  # news or social
    group: str = ""  # near-copies share a group


def rows(data: Path, stem: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, row) of one corpus file."""
    yield from enumerate(read_jsonl(data / f"{stem}.jsonl.gz"))


def title_text(stem: str, record: dict[str, str]) -> tuple[str, str]:
    """The title and text of a row as the labelled corpus reads it (comments have no title)."""
    if stem.startswith(("toxicity_", "emotion_", "sentiment_")):
        return "", str(record.get("text") or "")
    return str(record.get("title") or ""), str(record.get("text") or "")


def _first(pair: tuple[str, Candidate]) -> str:
    return pair[0]


def _order(key: str, salt: str) -> str:
    return hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).hexdigest()


def _news(data: Path) -> tuple[list[Candidate], dict[str, list[tuple[str, Candidate]]]]:
    picked: list[Candidate] = []
    incidents: dict[str, list[tuple[str, Candidate]]] = defaultdict(list)
    seen: set[str] = set()
    for stem in NEWS:
        for row, record in rows(data, stem):
            title, text = title_text(stem, record)
            key = text_key(title, text)
            if key in seen or not (title.strip() or text.strip()):
                continue
            seen.add(key)
            whole = f"{title}\n{text}"
            ref = f"{stem}:{row}"
            if PROVINCE.search(whole):
                picked.append(Candidate(ref, stem, row, key, "province", "news"))
            elif LOOKALIKE.search(whole):
                picked.append(Candidate(ref, stem, row, key, "lookalike", "news"))
            else:
                lead = fold(f"{title}\n{text[:LEAD_CHARS]}")
                if not ELSEWHERE.search(lead):
                    continue
                for kind, pattern in INCIDENT_PATTERNS.items():
                    if pattern.search(lead):
                        cand = Candidate(ref, stem, row, key, f"incident:{kind}", "news")
                        incidents[kind].append((_order(key, kind), cand))
                        break
    return picked, incidents


def _social(data: Path) -> list[Candidate]:
    picked: list[Candidate] = []
    for stem, wanted in SOCIAL.items():
        plain: list[tuple[str, Candidate]] = []
        complaint: list[tuple[str, Candidate]] = []
        seen: set[str] = set()
        for row, record in rows(data, stem):
            _, text = title_text(stem, record)
            if (
                len(text) < 25 or text_key("", text) in seen
            ):  # "kinh vãi": nothing for tone or severity to learn from
                continue
            cand = Candidate(f"{stem}:{row}", stem, row, text_key("", text), "social", "social")
            seen.add(cand.key)
            if stem == "toxicity_victsd_train":
                # comments on one article are one group: they must not straddle a split
                cand = _with_group(cand, "a" + _order(str(record.get("article_title")), "g")[:15])
            target = complaint if COMPLAINT.search(fold(text)) else plain
            target.append((_order(cand.key, stem), cand))
        half = wanted // 2
        picked += [c for _, c in sorted(complaint, key=_first)[:half]]
        picked += [c for _, c in sorted(plain, key=_first)[: wanted - half]]
    return picked


def _with_group(cand: Candidate, group: str) -> Candidate:
    return Candidate(**{**asdict(cand), "group": group})


def _groups(data: Path, candidates: list[Candidate]) -> list[Candidate]:
    """Candidates with near-copies (MinHash LSH, 16 bands) joined into one group."""
    parent = {c.id: c.id for c in candidates}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_file: dict[str, dict[int, Candidate]] = defaultdict(dict)
    for c in candidates:
        by_file[c.file][c.row] = c
    buckets: dict[int, str] = {}
    for stem, wanted in by_file.items():
        for row, record in rows(data, stem):
            if row not in wanted:
                continue
            title, text = title_text(stem, record)
            print_ = fingerprint(title, text)
            keys = band_keys(print_.signature, 16) if print_.signature is not None else []
            keys.append(hash(print_.text_hash))
            for key in keys:
                if key in buckets:
                    parent[find(wanted[row].id)] = find(buckets[key])
                else:
                    buckets[key] = wanted[row].id
    out = []
    for c in candidates:
        root = find(c.id)
        out.append(c if c.group else _with_group(c, "g" + _order(root, "g")[:15]))
    return out


def select(data: Path) -> list[Candidate]:
    """Every candidate, in a stable order."""
    picked, incidents = _news(data)
    for _, found in sorted(incidents.items()):
        picked += [c for _, c in sorted(found, key=_first)[:PER_INCIDENT]]
    picked += _social(data)
    return _groups(data, picked)


def main() -> None:
    """Write candidates.jsonl."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("nlp/data/labelled"))
    args = parser.parse_args()
    candidates = select(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "candidates.jsonl").open("w", encoding="utf-8") as out:
        for c in candidates:
            out.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
    counts: dict[str, int] = defaultdict(int)
    for c in candidates:
        counts[c.stratum] += 1
    print(len(candidates), dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
