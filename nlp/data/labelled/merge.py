"""Build labels.jsonl from the annotation rounds (how nlp/data/labelled/labels.jsonl was made).

python nlp/data/labelled/merge.py ROUND_DIR : reads ROUND_DIR/batch_NN.jsonl (the items shown),
out_NN_A.jsonl and out_NN_B.jsonl (the two annotators), final_NN.jsonl (the adjudicator's label
and reason for every item the two disagreed on), and the candidates file beside this script;
writes labels.jsonl beside it: references and labels only, never the texts.
An item is agreed when both annotators gave the same relevance, primary topic, sentiment,
severity and severity_if_here; its label is theirs, with both annotators' alternate topics.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = ("relevant", "topics", "sentiment", "severity", "severity_if_here", "note")


def _read(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines()) if r}


def _key(r: dict) -> tuple:
    return (r["relevant"], r["topics"][0], r["sentiment"], r["severity"], r.get("severity_if_here"))


def _label(r: dict) -> dict:
    return {f: r.get(f, "" if f == "note" else None) for f in FIELDS}


def main(rounds: Path) -> None:
    candidates = _read(HERE / "candidates.jsonl")
    out, skipped = [], []
    for batch in sorted(rounds.glob("batch_*.jsonl")):
        n = batch.stem.split("_")[1]
        if not n.isdigit():
            continue  # a part of a batch given to a second annotator
        a, b = _read(rounds / f"out_{n}_A.jsonl"), _read(rounds / f"out_{n}_B.jsonl")
        b.update(_read(rounds / f"out_{n}h_B.jsonl"))  # a second annotator on its second half
        final = _read(rounds / f"final_{n}.jsonl")
        for item_id in _read(batch):
            if item_id not in a or item_id not in b:
                skipped.append(item_id)
                continue
            ra, rb = a[item_id], b[item_id]
            if _key(ra) == _key(rb):
                topics = list(dict.fromkeys(ra["topics"] + rb["topics"][1:]))[:3]
                label = {
                    **_label(ra),
                    "topics": topics,
                    "note": ra.get("note") or rb.get("note") or "",
                }
                reason = None
            elif item_id in final:
                label, reason = _label(final[item_id]), final[item_id].get("reason") or ""
            else:
                skipped.append(item_id)
                continue
            ref = candidates[item_id]
            out.append(
                {
                    **ref,
                    "label": label,
                    "annotators": {"A": _label(ra), "B": _label(rb)},
                    "adjudicated": reason is not None,
                    "reason": reason,
                }
            )
    out.sort(key=lambda r: (r["file"], r["row"]))
    with (HERE / "labels.jsonl").open("w", encoding="utf-8") as f:
        for r in out:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(out)} labelled items written; {len(skipped)} not yet complete")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
