#!/usr/bin/env python3
"""Generate the schema set for the compatibility benchmark.

Usage: gen_schemas.py OUTDIR [--versions N] [--fields N]

Writes v001.avsc ... v101.avsc (by default) into OUTDIR.

* v001 is the record "com.example.cdc.Wide" with 1,000 fields of a realistic
  CDC-table mix: int, long, string, double, boolean, nullable strings/longs
  with default null, a few named enums (defined once, then referenced by
  name), arrays of strings, decimal on bytes, timestamp-micros longs, and two
  nested records (each defined once, then referenced by name).
* Every later version adds exactly ONE nullable field ({"type": ["null", X],
  "default": null}) at the end.  So every version is compatible with every
  other one in both directions: FULL_TRANSITIVE passes and a checker has to
  do all the work (100 prior versions x 2 directions).
* v101 is the "new" schema; v001..v100 are the prior versions.

Output is pretty-printed JSON (indent=2) and fully deterministic: no
randomness, no timestamps, stable key order.
"""

import argparse
import json
import os
import sys

NAMESPACE = "com.example.cdc"
RECORD_NAME = "Wide"

# Enum definitions: defined inline at first use, referenced by full name later.
ENUMS = [
    {
        "type": "enum",
        "name": "OrderStatus",
        "namespace": NAMESPACE,
        "symbols": ["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED", "RETURNED"],
        "default": "PENDING",
    },
    {
        "type": "enum",
        "name": "Currency",
        "namespace": NAMESPACE,
        "symbols": ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK"],
        "default": "USD",
    },
    {
        "type": "enum",
        "name": "ChangeOp",
        "namespace": NAMESPACE,
        "symbols": ["INSERT", "UPDATE", "DELETE", "SNAPSHOT"],
    },
]

# Nested records: defined inline at first use, referenced by full name later.
NESTED = [
    {
        "type": "record",
        "name": "Address",
        "namespace": NAMESPACE,
        "fields": [
            {"name": "street", "type": "string"},
            {"name": "city", "type": "string"},
            {"name": "postal_code", "type": ["null", "string"], "default": None},
            {"name": "country_code", "type": "string", "default": "US"},
            {"name": "latitude", "type": ["null", "double"], "default": None},
            {"name": "longitude", "type": ["null", "double"], "default": None},
        ],
    },
    {
        "type": "record",
        "name": "SourceInfo",
        "namespace": NAMESPACE,
        "fields": [
            {"name": "connector", "type": "string"},
            {"name": "db", "type": "string"},
            {"name": "table", "type": "string"},
            {"name": "lsn", "type": "long"},
            {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "snapshot", "type": "boolean", "default": False},
            {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        ],
    },
]

# Column-name stems, picked per kind so the names look like a real wide table.
STEMS = {
    "nstring": ["email", "phone", "note", "middle_name", "coupon_code", "referrer", "region", "segment"],
    "string": ["customer_name", "sku", "account_ref", "external_id", "channel", "locale"],
    "long": ["order_id", "customer_id", "row_version", "quantity_total", "bytes_sent"],
    "int": ["quantity", "retry_count", "line_no", "priority", "age_days"],
    "double": ["score", "weight_kg", "discount_rate", "ratio"],
    "boolean": ["is_active", "is_deleted", "has_consent", "is_test"],
    "ts": ["created_at", "updated_at", "shipped_at", "seen_at"],
    "nlong": ["parent_id", "batch_id", "legacy_id"],
    "decimal": ["amount", "tax_amount", "unit_price"],
    "array": ["labels", "categories"],
    "enum": ["status", "currency", "change_op"],
    "record": ["address", "source"],
}

# A fixed 100-slot pattern of kinds; repeated 10 times for 1,000 fields.
# Counts per 100: nstring 25, string 15, long 12, int 12, double 8, boolean 8,
# ts 6, nlong 4, decimal 3, array 3, enum 3, record 1.
_PATTERN_COUNTS = [
    ("nstring", 25), ("string", 15), ("long", 12), ("int", 12), ("double", 8),
    ("boolean", 8), ("ts", 6), ("nlong", 4), ("decimal", 3), ("array", 3),
    ("enum", 3), ("record", 1),
]


def _build_pattern():
    # Interleave kinds deterministically (largest-remainder style spread)
    # instead of emitting them in blocks.
    total = sum(c for _, c in _PATTERN_COUNTS)
    pattern = []
    emitted = {k: 0 for k, _ in _PATTERN_COUNTS}
    for slot in range(total):
        best, best_deficit = None, None
        for kind, count in _PATTERN_COUNTS:
            deficit = count * (slot + 1) / total - emitted[kind]
            if best_deficit is None or deficit > best_deficit:
                best, best_deficit = kind, deficit
        pattern.append(best)
        emitted[best] += 1
    return pattern


PATTERN = _build_pattern()


def base_fields(n_fields):
    fields = []
    defined = set()  # full names of named types already defined inline
    counters = {}
    enum_i = 0
    rec_i = 0

    def named(defn):
        full = f"{defn['namespace']}.{defn['name']}"
        if full in defined:
            return full
        defined.add(full)
        return json.loads(json.dumps(defn))  # deep copy

    for i in range(n_fields):
        kind = PATTERN[i % len(PATTERN)]
        c = counters.get(kind, 0)
        counters[kind] = c + 1
        stems = STEMS[kind]
        name = f"{stems[c % len(stems)]}_{i + 1:04d}"
        f = {"name": name}
        if kind == "nstring":
            f["type"] = ["null", "string"]
            f["default"] = None
        elif kind == "string":
            f["type"] = "string"
        elif kind == "long":
            f["type"] = "long"
        elif kind == "int":
            f["type"] = "int"
            if c % 3 == 0:
                f["default"] = 0
        elif kind == "double":
            f["type"] = "double"
        elif kind == "boolean":
            f["type"] = "boolean"
            f["default"] = False
        elif kind == "ts":
            f["type"] = {"type": "long", "logicalType": "timestamp-micros"}
        elif kind == "nlong":
            f["type"] = ["null", "long"]
            f["default"] = None
        elif kind == "decimal":
            f["type"] = {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 4}
        elif kind == "array":
            f["type"] = {"type": "array", "items": "string"}
            f["default"] = []
        elif kind == "enum":
            f["type"] = named(ENUMS[enum_i % len(ENUMS)])
            enum_i += 1
        elif kind == "record":
            t = named(NESTED[rec_i % len(NESTED)])
            rec_i += 1
            # Every other nested-record column is optional.
            if rec_i % 2 == 0:
                f["type"] = ["null", t]
                f["default"] = None
            else:
                f["type"] = t
        else:  # pragma: no cover
            raise AssertionError(kind)
        if i % 50 == 0:
            f["doc"] = f"Column {i + 1} of the wide CDC table ({kind})."
        fields.append(f)
    return fields


ADDED_TYPES = ["string", "long", "double", "int", "boolean"]


def added_field(k):
    """The field added by version k+1 (k = 1..): always nullable, default null."""
    t = ADDED_TYPES[(k - 1) % len(ADDED_TYPES)]
    return {"name": f"added_{k:03d}_{t}", "type": ["null", t], "default": None}


def make_schema(fields):
    return {
        "type": "record",
        "name": RECORD_NAME,
        "namespace": NAMESPACE,
        "doc": "Wide change-data-capture row used by the compatibility benchmark.",
        "fields": fields,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--versions", type=int, default=101, help="number of versions (default 101)")
    ap.add_argument("--fields", type=int, default=1000, help="fields in v001 (default 1000)")
    args = ap.parse_args(argv)

    os.makedirs(args.outdir, exist_ok=True)
    fields = base_fields(args.fields)
    total = 0
    width = max(3, len(str(args.versions)))
    for v in range(1, args.versions + 1):
        if v > 1:
            fields = fields + [added_field(v - 1)]
        text = json.dumps(make_schema(fields), indent=2) + "\n"
        path = os.path.join(args.outdir, f"v{v:0{width}d}.avsc")
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        total += len(text.encode("utf-8"))
    print(
        f"wrote {args.versions} schemas to {args.outdir}: "
        f"{args.fields}..{args.fields + args.versions - 1} fields, {total} bytes total",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
