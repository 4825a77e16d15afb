#!/usr/bin/env python3
"""The engine's own scorer: detection and per-field precision / recall / F1 of the `parse`
example's predictions against labelled messages (`NAME.eml` + `NAME.json`, the label schema of
`fixtures/README.md`).

    cargo build --release -p mailsig-parser --example parse
    python3 parser/benchmark/score.py                       # fixtures/ (every kind)
    python3 parser/benchmark/score.py --set dev=DIR         # any labelled folder
    python3 parser/benchmark/score.py --by-owner DIR        # one fold per mailbox owner
    python3 parser/benchmark/score.py --by kind             # per kind (label or folder)
    python3 parser/benchmark/score.py --reliability --rules # calibration: ECE per field, per rule

Several `--set` may be given; one table prints every set side by side. `--by-owner DIR` groups
the folder's messages by the file name's prefix before the first `_` (the mailbox owner) and
prints, per owner, the figures measured on that owner's messages alone: a rule-based engine has
nothing to retrain, so leave-one-owner-out is exactly this, and the mean and the worst fold say
how far the rules hold on mailboxes they were not written for. `--by kind|lang` splits a set by
the label's `kind` (else its folder), `lang` or `form` (plain, html, multipart). `--misses` lists every wrong field.

Matching: a name must be equal after Unicode NFKC, case folding and collapsing spaces; a title,
company or address counts when its words overlap with token F1 >= 0.8; e-mail addresses,
phones (E.164 digits), websites and social links (without scheme and leading `www.`) are sets.
A label may list `scored_fields`: only those fields of that message count.

`--reliability` prints, per set and pooled, every field's expected calibration error over ten
confidence bins and the bins themselves (the engine's confidence against the share of right
values); `--rules` adds how often each signature rule's block was one and each field rule's
values inside real signatures were right, each with the (right + 1/2) / (seen + 1) estimate
(the second is `src/calibration.rs`'s `TABLE`; the chance that a block is a signature is a
logistic model over the block's facts, fitted and checked held-out by `calibrate.py`).
`--parse EXE` scores another build of the `parse` example (an older commit, say). `--skip STEM`
(repeatable) leaves a message out of every set, to score apart the messages whose label is in
dispute (a block every other set calls a signature, labelled "no signature").
"""
import argparse
import json
import os
import re
import subprocess
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCALARS = ("name", "title", "company", "address")
LISTS = ("emails", "phones", "websites", "social")
FIELDS = SCALARS + LISTS
# Messages left out of every set (`--skip`): labels in dispute, scored apart from the rest.
SKIP = set()


def norm(s):
    s = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", s).casefold()).strip()
    return s.strip(" ,;|-–—·•")


def words(s):
    return [w for w in re.split(r"[\s,;|/]+", norm(s)) if w]


def overlap_f1(a, b):
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return 0.0
    rest, same = list(wb), 0
    for w in wa:
        if w in rest:
            rest.remove(w)
            same += 1
    if not same:
        return 0.0
    p, r = same / len(wa), same / len(wb)
    return 2 * p * r / (p + r)


def same_scalar(field, gold, pred):
    return norm(gold) == norm(pred) if field == "name" else overlap_f1(gold, pred) >= 0.8


def value_set(field, contact):
    out = set()
    for v in (contact or {}).get(field) or []:
        if field == "phones":
            if isinstance(v, dict) and v.get("e164"):
                out.add(re.sub(r"[^+0-9]", "", v["e164"]))
        elif isinstance(v, str) and v.strip():
            v = norm(v)
            if field in ("websites", "social"):
                v = re.sub(r"^www\.", "", re.sub(r"^[a-z][a-z0-9+.-]*://", "", v)).rstrip("/")
            out.add(v)
    return out


def scalar(contact, field):
    v = (contact or {}).get(field)
    return v if isinstance(v, str) and v.strip() else None


class Tally:
    def __init__(self):
        self.n = self.tp = self.fp = self.fn = self.tn = 0
        self.f = {f: [0, 0, 0] for f in FIELDS}  # correct, predicted, labelled
        self.conf = []  # (field, rule, confidence, correct, signature right) per predicted value
        self.anchors = []  # (signature rule, signature right) per predicted signature

    def add(self, gold, pred, misses, key):
        self.n += 1
        self.collect_confidence(gold, pred)
        gs, ps = bool(gold.get("has_signature")), bool(pred.get("has_signature"))
        if gs:
            self.tp += ps
            self.fn += not ps
        else:
            self.fp += ps
            self.tn += not ps
        gc = gold.get("contact") if gs else None
        pc = pred.get("contact") if ps else None
        scored = set(gold.get("scored_fields") or FIELDS) if gs else set(FIELDS)
        for f in SCALARS:
            if f not in scored:
                continue
            g, p = scalar(gc, f), scalar(pc, f)
            ok = g is not None and p is not None and same_scalar(f, g, p)
            c = self.f[f]
            c[0] += ok
            c[1] += p is not None
            c[2] += g is not None
            if (g or p) and not ok:
                misses.append(f"{key} {f}: label={g!r} engine={p!r}")
        for f in LISTS:
            if f not in scored:
                continue
            g, p = value_set(f, gc), value_set(f, pc)
            c = self.f[f]
            c[0] += len(g & p)
            c[1] += len(p)
            c[2] += len(g)
            if g != p:
                misses.append(f"{key} {f}: missing={sorted(g - p)} extra={sorted(p - g)}")

    def collect_confidence(self, gold, pred):
        """Every predicted value with its rule and confidence, and whether it is right."""
        if not pred.get("has_signature"):
            return
        gs = bool(gold.get("has_signature"))
        self.anchors.append((pred.get("signature_rule"), gs))
        gc = gold.get("contact") if gs else None
        pc = pred.get("contact") or {}
        prov = pred.get("provenance") or {}
        scored = set(gold.get("scored_fields") or FIELDS) if gs else set(FIELDS)
        for f in FIELDS:
            if f not in scored:
                continue
            if f in SCALARS:
                p, origin = scalar(pc, f), prov.get(f)
                if p is None or not isinstance(origin, dict):
                    continue
                g = scalar(gc, f)
                ok = g is not None and same_scalar(f, g, p)
                self.conf.append((f, origin.get("rule"), origin.get("confidence", 0.0), ok, gs))
            else:
                gold_values = value_set(f, gc)
                for v, origin in zip(pc.get(f) or [], prov.get(f) or []):
                    one = value_set(f, {f: [v]})
                    ok = bool(one) and one <= gold_values
                    self.conf.append((f, origin.get("rule"), origin.get("confidence", 0.0), ok, gs))

    def detection(self):
        return (self.tp + self.tn) / self.n if self.n else 1.0

    def detection_recall(self):
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @staticmethod
    def prf(tp, pred, gold):
        p = tp / pred if pred else (1.0 if not gold else 0.0)
        r = tp / gold if gold else 1.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    def field_f1(self, f):
        return self.prf(*self.f[f])[2]

    def micro(self):
        return self.prf(*(sum(c[i] for c in self.f.values()) for i in range(3)))


def find_parse(path=None):
    if path:
        return Path(path)
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
    exe = Path(target) / "release" / "examples" / "parse"
    if not exe.exists():
        sys.exit(f"{exe} not found: cargo build --release -p mailsig-parser --example parse")
    return exe


def predict(exe, emls):
    out = {}
    for i in range(0, len(emls), 200):
        chunk = emls[i : i + 200]
        res = subprocess.run([str(exe), *map(str, chunk)], capture_output=True, check=True)
        for line in res.stdout.decode().splitlines():
            obj = json.loads(line)
            out[Path(obj["file"]).resolve()] = obj
    return out


def labelled(folder):
    return sorted(
        p
        for p in Path(folder).rglob("*.eml")
        if p.with_suffix(".json").exists() and p.stem not in SKIP
    )


def score(emls, preds, group, misses):
    tallies = defaultdict(Tally)
    for eml in emls:
        gold = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
        pred = preds.get(eml.resolve(), {"has_signature": False})
        key = eml.stem
        tallies["all"].add(gold, pred, misses, key)
        if group:
            tallies[group(eml, gold)].add(gold, pred, [], key)
    return tallies


def row(name, t):
    p, r, f1 = t.micro()
    cells = " ".join(f"{t.field_f1(f):6.3f}" if t.f[f][1] + t.f[f][2] else "     -" for f in FIELDS)
    return f"{name:24} {t.n:5} {t.detection():6.3f} {t.detection_recall():6.3f} {f1:6.3f} {p:6.3f} {r:6.3f} {cells}"


HEADER = f"{'set':24} {'msgs':>5} {'detect':>6} {'d.rec':>6} {'F1':>6} {'prec':>6} {'recall':>6} " + " ".join(
    f"{f[:6]:>6}" for f in FIELDS
)


def ece(items, bins=10):
    """Expected calibration error of (confidence, correct) pairs over equal-width bins, and the
    bins as (low, count, mean confidence, accuracy)."""
    table = []
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(c, ok) for c, ok in items if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if not inside:
            continue
        conf = sum(c for c, _ in inside) / len(inside)
        acc = sum(ok for _, ok in inside) / len(inside)
        total += abs(conf - acc) * len(inside)
        table.append((lo, len(inside), conf, acc))
    return (total / len(items) if items else 0.0), table


def reliability(name, t, per_rule):
    print(f"\nreliability: {name} (predicted values; ECE over 10 confidence bins)")
    print(f"{'field':10} {'values':>6} {'ECE':>6}  bins: [from] count conf/acc")
    for f in FIELDS:
        items = [(c, ok) for g, _, c, ok, _ in t.conf if g == f]
        if not items:
            continue
        e, table = ece(items)
        cells = "  ".join(f"[{lo:.1f}] {n} {c:.2f}/{a:.2f}" for lo, n, c, a in table)
        print(f"{f:10} {len(items):6} {e:6.3f}  {cells}")
    if per_rule:
        # Each as (right + 1/2) / (seen + 1): how often a block found this way is a signature
        # (for reading; the engine's share is calibrate.py's model over the block's facts), and
        # how often each field rule's values are right inside real signatures (TABLE).
        anchors = defaultdict(lambda: [0, 0])
        for a, right in t.anchors:
            anchors[a][0] += right
            anchors[a][1] += 1
        print(f"{'signature rule':28} {'found':>6} {'right':>6} {'(k+.5)/(n+1)':>12}")
        for a, (k, n) in sorted(anchors.items(), key=lambda kv: str(kv[0])):
            print(f"{str(a):28} {n:6} {k:6} {(k + 0.5) / (n + 1):12.3f}")
        rules = defaultdict(lambda: [0, 0])
        for _, r, _, ok, sig in t.conf:
            if sig:
                rules[r][0] += ok
                rules[r][1] += 1
        print(f"{'field rule (real signatures)':28} {'values':>6} {'right':>6} {'(k+.5)/(n+1)':>12}")
        for r, (k, n) in sorted(rules.items(), key=lambda kv: str(kv[0])):
            print(f"{str(r):28} {n:6} {k:6} {(k + 0.5) / (n + 1):12.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=DIR")
    ap.add_argument("--by-owner", action="append", default=[], metavar="DIR")
    ap.add_argument("--by", choices=["kind", "lang", "form"])
    ap.add_argument("--misses", action="store_true")
    ap.add_argument("--reliability", action="store_true", help="per field ECE and reliability bins")
    ap.add_argument("--rules", action="store_true", help="with --reliability: accuracy per rule")
    ap.add_argument("--parse", metavar="EXE", help="the parse example to score (default: the release build)")
    ap.add_argument("--skip", action="append", default=[], metavar="STEM",
                    help="leave the message STEM.eml out of every set (a label in dispute)")
    args = ap.parse_args()
    SKIP.update(args.skip)
    sets = [s.split("=", 1) if "=" in s else (Path(s).name, s) for s in args.set]
    if not sets and not args.by_owner:
        sets = [("fixtures", str(ROOT / "fixtures"))]
    exe = find_parse(args.parse)
    print(HEADER)
    misses = []
    calibration = []
    group = None
    if args.by == "kind":
        group = lambda eml, gold: gold.get("kind") or eml.parent.name
    elif args.by:
        group = lambda eml, gold: gold.get(args.by) or "?"
    for name, folder in sets:
        emls = labelled(folder)
        tallies = score(emls, predict(exe, emls), group, misses)
        everything = tallies.pop("all")
        print(row(name, everything))
        for g in sorted(tallies):
            print(row(f"  {g}", tallies[g]))
        if args.reliability:
            calibration.append((name, everything))
    for folder in args.by_owner:
        emls = labelled(folder)
        by_owner = score(emls, predict(exe, emls), lambda eml, gold: eml.name.split("_")[0], misses)
        everything = by_owner.pop("all")
        print(row(f"{Path(folder).name} (all)", everything))
        folds = sorted(by_owner.items(), key=lambda kv: kv[1].micro()[2])
        for owner, t in folds:
            print(row(f"  {owner}", t))
        f1s = [t.micro()[2] for _, t in folds]
        dets = [t.detection() for _, t in folds]
        print(
            f"leave-one-owner-out, {len(folds)} folds: micro F1 mean {sum(f1s) / len(f1s):.3f} "
            f"worst {min(f1s):.3f}; detection mean {sum(dets) / len(dets):.3f} worst {min(dets):.3f}"
        )
        big = [t for _, t in folds if t.n >= 10]
        if big and len(big) < len(folds):
            f1s = [t.micro()[2] for t in big]
            dets = [t.detection() for t in big]
            print(
                f"  the {len(big)} folds of >= 10 messages: micro F1 mean {sum(f1s) / len(f1s):.3f} "
                f"worst {min(f1s):.3f}; detection mean {sum(dets) / len(dets):.3f} worst {min(dets):.3f}"
            )
    for name, t in calibration:
        reliability(name, t, args.rules)
    if len(calibration) > 1:
        pooled = Tally()
        for _, t in calibration:
            pooled.conf.extend(t.conf)
            pooled.anchors.extend(t.anchors)
        reliability("all sets pooled", pooled, args.rules)
    if args.misses:
        print("\n".join(misses))


if __name__ == "__main__":
    main()
