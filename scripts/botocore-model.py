#!/usr/bin/env python3
"""Writes the parts of botocore's ElastiCache model that tests/api_model.rs
checks the control plane against (operations, shapes, error codes; no
documentation) to tests/data/elasticache-2015-02-02.json.

Run it after upgrading botocore to see what the service model changed:
    python3 scripts/botocore-model.py && git diff tests/data
"""
import gzip
import json
import os

import botocore

MODEL = os.path.join(os.path.dirname(botocore.__file__), "data/elasticache/2015-02-02/service-2.json.gz")
OUT = os.path.join(os.path.dirname(__file__), "..", "tests/data/elasticache-2015-02-02.json")
KEEP = ("type", "members", "member", "required", "enum", "error", "exception")


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k != "documentation"}
    return value


with gzip.open(MODEL) as f:
    model = json.load(f)
out = {
    "botocore": botocore.__version__,
    "xmlNamespace": model["metadata"]["xmlNamespace"],
    "operations": {
        name: {k: strip(op[k]) for k in ("input", "output", "errors") if k in op}
        for name, op in sorted(model["operations"].items())
    },
    "shapes": {
        name: {k: strip(shape[k]) for k in KEEP if k in shape}
        for name, shape in sorted(model["shapes"].items())
    },
}
with open(OUT, "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
