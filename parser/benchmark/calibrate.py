#!/usr/bin/env python3
"""Fits the weights `src/calibration.rs` ships, and checks them on data they were not fitted on.

    cargo build --release -p mailsig-parser --example parse
    python3 parser/benchmark/calibrate.py --set fixtures=fixtures \\
        --set benchmark=parser/benchmark/set [--set NAME=DIR ...] [--owners NAME]

A value's confidence is the chance that its block is a signature times how often its field rule
is right inside real signatures. The first is a logistic model over the block's structural facts
(the `block_facts` of the `parse` example's output: found without a sign-off, all recipients in
the sender's domain, ...), fitted by L2-regularised maximum likelihood on every predicted
signature of the sets given; the second is (right + 1/2) / (seen + 1) per field rule. The script
prints both as the Rust of `src/calibration.rs`.

Held-out check: every set is cut into groups (ten slices of each set, or one group per mailbox
owner, the file name's prefix before `_`, for the sets named with `--owners`); each group's
values get the confidence of a model fitted on all the other groups, and the expected
calibration error (ten bins, as `score.py --reliability`) is printed per set and field for these
out-of-group confidences beside the in-sample ones. `--skip STEM` leaves a message out.

`--per-field` also fits, after the block model, one more logistic model per field over the same
facts (offset by the value's two-part confidence), so that each field may weigh a fact its own
way, and prints its ECE in sample and held out. It is an experiment the engine does not ship: on
the development sets it did not bring enron-train's name, title and address within 0.05 in
sample, and held out it was worse there than the shared model (BENCHMARKS.md).
"""
import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import score  # noqa: E402

FACTS = (
    "block.no_signoff",
    "block.many_recipients",
    "block.no_recipients",
    "block.name_only",
    "block.long_text",
    "block.internal",
)


def blocks_of(name, folder, exe, owners):
    """One record per predicted signature: facts, whether it is one, its values."""
    emls = score.labelled(folder)
    preds = score.predict(exe, emls)
    out = []
    for i, eml in enumerate(emls):
        pred = preds.get(eml.resolve(), {})
        if not pred.get("has_signature"):
            continue
        gold = json.loads(eml.with_suffix(".json").read_text(encoding="utf-8"))
        t = score.Tally()
        t.collect_confidence(gold, pred)
        group = f"{name}:{eml.name.split('_')[0]}" if owners else f"{name}#{i % 10}"
        out.append(
            {
                "set": name,
                "group": group,
                "stem": eml.stem,
                "x": [1.0 if f in (pred.get("block_facts") or []) else 0.0 for f in FACTS],
                "anchor": pred.get("signature_rule"),
                "y": 1.0 if gold.get("has_signature") else 0.0,
                # (field, rule, right, shipped confidence)
                "values": [(f, r, ok, c) for f, r, c, ok, _ in t.conf],
            }
        )
    return out


PAIRS = []  # (i, j): the product of two facts as one more feature


def with_pairs(x):
    return x + [x[i] * x[j] for i, j in PAIRS]


def names_of_features():
    return list(FACTS) + [f"{FACTS[i]}*{FACTS[j][6:]}" for i, j in PAIRS]


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z)) if z > -30 else 0.0


def solve(a, b):
    """Gaussian elimination with partial pivoting."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            for k in range(c, n + 1):
                m[r][k] -= f * m[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x


def fit_logistic(blocks, l2, offsets=None):
    """Intercept and weights maximising the log-likelihood minus l2/2 * |weights|^2 (Newton).
    `offsets` (one per block) are added to the linear term unweighted."""
    d = len(names_of_features()) + 1
    w = [0.0 if offsets else 3.0] + [0.0] * (d - 1)
    for _ in range(100):
        grad = [0.0] * d
        hess = [[0.0] * d for _ in range(d)]
        for k, b in enumerate(blocks):
            x = [1.0] + with_pairs(b["x"])
            off = offsets[k] if offsets else 0.0
            p = sigmoid(off + sum(wi * xi for wi, xi in zip(w, x)))
            sw = b.get("weight", 1.0)
            for i in range(d):
                grad[i] += sw * (b["y"] - p) * x[i]
                for j in range(d):
                    hess[i][j] += sw * p * (1 - p) * x[i] * x[j]
        for i in range(1, d):
            grad[i] -= l2 * w[i]
            hess[i][i] += l2
        hess[0][0] += 1e-6
        step = solve(hess, grad)
        big = max(abs(s) for s in step)
        if big > 1.0:  # damped Newton: no step longer than 1 in any weight
            step = [s / big for s in step]
        w = [wi + si for wi, si in zip(w, step)]
        if max(abs(s) for s in step) < 1e-9:
            break
    return w


def fit_table(blocks):
    counts = defaultdict(lambda: [0, 0])
    for b in blocks:
        if b["y"]:
            for _, rule, ok, _ in b["values"]:
                counts[rule][0] += ok
                counts[rule][1] += 1
    return {r: ((k + 0.5) / (n + 1), k, n) for r, (k, n) in counts.items()}


def share(w, x):
    return sigmoid(w[0] + sum(wi * xi for wi, xi in zip(w[1:], with_pairs(x))))


def logit(p):
    return math.log(p / (1 - p))


def value_rows(blocks, table):
    """One row per value for the value-level fit: the block's facts, offset logit(rule record)."""
    rows, offsets = [], []
    for b in blocks:
        for f, rule, ok, _ in b["values"]:
            rows.append({"x": b["x"], "y": 1.0 if ok else 0.0, "weight": b.get("weight", 1.0)})
            offsets.append(logit(table.get(rule, (0.5,))[0]))
    return rows, offsets


def fit_fields(blocks, l2):
    """The block model, then one more logistic model per field over the same facts, offset by the
    value's two-part confidence: each field may weigh a fact differently."""
    w, table = fit_logistic(blocks, l2), fit_table(blocks)
    fields = {}
    for field in score.FIELDS:
        rows, offsets = [], []
        for b in blocks:
            s = share(w, b["x"])
            for f, rule, ok, _ in b["values"]:
                if f == field:
                    rows.append({"x": b["x"], "y": 1.0 if ok else 0.0, "weight": b.get("weight", 1.0)})
                    offsets.append(logit(clamp(s * table.get(rule, (0.5,))[0])))
        fields[field] = fit_logistic(rows, l2, offsets) if rows else None
    return w, table, fields


def clamp(p):
    return min(max(p, 1e-6), 1 - 1e-6)


def confidences_fields(blocks, w, table, fields):
    """(set, field, confidence, right) per value under `fit_fields`."""
    out = []
    for b in blocks:
        s = share(w, b["x"])
        for f, rule, ok, _ in b["values"]:
            z = logit(clamp(s * table.get(rule, (0.5,))[0]))
            wf = fields.get(f)
            if wf:
                z += wf[0] + sum(wi * xi for wi, xi in zip(wf[1:], with_pairs(b["x"])))
            out.append((b["set"], f, sigmoid(z), ok))
    return out


def fit(blocks, l2, per_value):
    table = fit_table(blocks)
    if per_value:
        rows, offsets = value_rows(blocks, table)
        return fit_logistic(rows, l2, offsets), table
    return fit_logistic(blocks, l2), table


def confidences(blocks, w, table, per_value=False):
    """(set, field, confidence, right) per value."""
    out = []
    for b in blocks:
        s = share(w, b["x"])
        for f, rule, ok, _ in b["values"]:
            r = table.get(rule, (0.5,))[0]
            if per_value:
                z = logit(r) + w[0] + sum(wi * xi for wi, xi in zip(w[1:], with_pairs(b["x"])))
                out.append((b["set"], f, sigmoid(z), ok))
            else:
                out.append((b["set"], f, s * r, ok))
    return out


def ece_table(items, sets):
    rows = {}
    for name in sets:
        rows[name] = {}
        for f in score.FIELDS:
            vals = [(c, ok) for s, g, c, ok in items if s == name and g == f]
            if vals:
                rows[name][f] = (score.ece(vals)[0], len(vals))
    return rows


def noise_floor(items, sets, draws=2000):
    """The ECE a perfectly calibrated engine would show with these confidences and this many
    values: outcomes drawn right with probability equal to the confidence, averaged."""
    import random

    rng = random.Random(20)
    rows = {}
    for name in sets:
        rows[name] = {}
        for f in score.FIELDS:
            confs = [c for s, g, c, _ in items if s == name and g == f]
            if confs:
                total = sum(score.ece([(c, rng.random() < c) for c in confs])[0] for _ in range(draws))
                rows[name][f] = (total / draws, len(confs))
    return rows


def print_ece(title, rows):
    print(f"\n{title}")
    print(f"{'set':12} " + " ".join(f"{f[:8]:>12}" for f in score.FIELDS))
    for name, r in rows.items():
        cells = [f"{r[f][0]:6.3f} ({r[f][1]:3})" if f in r else f"{'-':>12}" for f in score.FIELDS]
        print(f"{name:12} " + " ".join(cells))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=DIR")
    ap.add_argument("--owners", action="append", default=[], metavar="NAME",
                    help="cross-validate this set by mailbox owner (file name prefix)")
    ap.add_argument("--l2", type=float, default=1.0, help="L2 penalty on the weights")
    ap.add_argument("--pair", action="append", default=[], metavar="A*B",
                    help="add the product of two facts (names without 'block.') as a feature")
    ap.add_argument("--per-value", action="store_true",
                    help="fit on values (right or not, offset by the rule's record), not blocks")
    ap.add_argument("--per-field", action="store_true",
                    help="an experiment: one more model per field over the block's facts (printed, not shipped)")
    ap.add_argument("--drop", action="append", default=[], metavar="FACT",
                    help="leave a fact out of the model (its weight is 0)")
    ap.add_argument("--anchors", action="store_true",
                    help="the earlier model: one share per signature rule, no other fact")
    ap.add_argument("--balance", action="store_true", help="every set weighs the same in the fit")
    ap.add_argument("--skip", action="append", default=[], metavar="STEM")
    ap.add_argument("--parse", metavar="EXE")
    ap.add_argument("--blocks", action="store_true", help="list every block that is no signature")
    args = ap.parse_args()
    score.SKIP.update(args.skip)
    exe = score.find_parse(args.parse)
    sets = [s.split("=", 1) for s in args.set]
    blocks = []
    for name, folder in sets:
        blocks += blocks_of(name, folder, exe, name in args.owners)
    names = [n for n, _ in sets]
    if args.balance:
        # Every set weighs the same in the fit, however many signatures it has.
        for name in names:
            mine = [b for b in blocks if b["set"] == name]
            for b in mine:
                b["weight"] = len(blocks) / len(names) / len(mine)

    if args.anchors:
        # The model shipped before: one share per way the block was found (no other fact).
        global FACTS
        anchors = sorted({b["anchor"] for b in blocks} - {"signature.valediction"})
        FACTS = tuple(anchors)
        for b in blocks:
            b["x"] = [1.0 if b["anchor"] == a else 0.0 for a in anchors]
    for f in args.drop:
        i = FACTS.index("block." + f)
        for b in blocks:
            b["x"][i] = 0.0
    for p in args.pair:
        a, b = p.split("*")
        PAIRS.append((FACTS.index("block." + a), FACTS.index("block." + b)))
    w, table = fit(blocks, args.l2, args.per_value)
    print(f"{len(blocks)} predicted signatures, {sum(1 - b['y'] for b in blocks):.0f} of them no signature, "
          f"{sum(len(b['values']) for b in blocks)} values; L2 {args.l2}")
    print("\nfact                     blocks  no sig  weight")
    print(f"{'(intercept)':24} {len(blocks):6} {sum(1 - b['y'] for b in blocks):7.0f} {w[0]:7.3f}")
    for i, f in enumerate(names_of_features()):
        n = sum(with_pairs(b["x"])[i] for b in blocks)
        neg = sum(with_pairs(b["x"])[i] * (1 - b["y"]) for b in blocks)
        print(f"{f:24} {n:6.0f} {neg:7.0f} {w[i + 1]:7.3f}")
    if args.blocks:
        for b in blocks:
            if not b["y"]:
                facts = [f for f, x in zip(FACTS, b["x"]) if x]
                print(f"  no signature: {b['set']} {b['stem']} share {share(w, b['x']):.3f} {facts}")

    print_ece("ECE, shipped confidences (as the engine printed them)",
              ece_table([(b["set"], f, c, ok) for b in blocks for f, _, ok, c in b["values"]], names))
    print_ece("ECE, in sample (fitted on all sets)", ece_table(confidences(blocks, w, table, args.per_value), names))
    held = []
    for g in sorted({b["group"] for b in blocks}):
        train = [b for b in blocks if b["group"] != g]
        test = [b for b in blocks if b["group"] == g]
        held += confidences(test, *fit(train, args.l2, args.per_value), args.per_value)
    print_ece("ECE, held out (each group scored by a model fitted without it)", ece_table(held, names))
    print_ece("ECE a perfectly calibrated engine would show with the held-out confidences "
              "(the noise of so few values)", noise_floor(held, names))
    if args.per_field:
        print_ece("ECE, per-field models, in sample", ece_table(confidences_fields(blocks, *fit_fields(blocks, args.l2)), names))
        held_fields = []
        for g in sorted({b["group"] for b in blocks}):
            train = [b for b in blocks if b["group"] != g]
            held_fields += confidences_fields([b for b in blocks if b["group"] == g], *fit_fields(train, args.l2))
        print_ece("ECE, per-field models, held out", ece_table(held_fields, names))
    for name in names:
        items = [(c, ok) for s, _, c, ok in held if s == name]
        print(f"  {name}: all fields pooled, held out: ECE {score.ece(items)[0]:.3f} over {len(items)} values")

    print("\n// src/calibration.rs")
    print(f"const INTERCEPT: f32 = {w[0]:.3f};")
    print("const WEIGHTS: &[(Fact, f32)] = &[")
    for f, wi in zip(FACTS, w[1:]):
        variant = "".join(p.title() for p in f.split(".", 1)[1].split("_"))
        print(f"    (Fact::{variant}, {wi:.3f}),")
    print("];")
    print("const TABLE: &[(&str, f32)] = &[")
    for r, (c, k, n) in sorted(table.items(), key=lambda kv: str(kv[0])):
        print(f'    ("{r}", {c:.3f}), // {k}/{n}')
    print("];")


if __name__ == "__main__":
    main()
