#!/usr/bin/env python3
"""Multiply-accumulates of one clip through an ONNX model: the cost figure of docs/models.md.

Counts Conv, ConvTranspose, Gemm and MatMul (everything else in these models is elementwise or
pooling, under 1 % of the work), with the shapes ONNX's shape inference gives for a batch of
one. A quantized (QDQ) model counts the same as its float original: the work is the same
convolutions, in INT8.

    .cache/venv/bin/python scripts/model_macs.py models/fight-mc3-18/model.onnx
    43.40 GMAC   (prints one JSON line with --json)
"""

import argparse
import json
import math
import sys

import onnx
from onnx import shape_inference


def static_input(model: onnx.ModelProto, frames=None, size=None) -> None:
    """Fixes the inputs' symbolic dimensions: the batch to 1, and an N×C×T×H×W clip's frames
    and height/width to `frames` and `size` (a model with symbolic input sizes)."""
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        for index, dim in enumerate(dims):
            if dim.HasField("dim_value"):
                continue
            wanted = {2: frames, 3: size, 4: size}.get(index) if len(dims) == 5 else None
            if index > 0 and wanted is None:
                sys.exit(f"input {inp.name} dimension {index} is symbolic: pass --frames and --size")
            dim.dim_value = wanted if index > 0 else 1


def shapes(model: onnx.ModelProto) -> dict:
    inferred = shape_inference.infer_shapes(model)
    out = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            out[vi.name] = dims
    for init in inferred.graph.initializer:
        out[init.name] = list(init.dims)
    return out


def macs(path: str, frames=None, size=None) -> int:
    model = onnx.load(path)
    static_input(model, frames, size)
    dims = shapes(model)
    total = 0
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose"):
            weight = dims.get(node.input[1])
            output = dims.get(node.output[0])
            if weight is None or output is None:
                sys.exit(f"no shape for {node.name or node.op_type}: cannot count its work")
            # Each output element: in-channels-per-group × kernel multiply-adds.
            total += math.prod(output) * math.prod(weight[1:])
        elif node.op_type in ("Gemm", "MatMul"):
            a, out = dims.get(node.input[0]), dims.get(node.output[0])
            if a is None or out is None:
                sys.exit(f"no shape for {node.name or node.op_type}: cannot count its work")
            total += math.prod(out) * a[-1]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an .onnx file")
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--frames", type=int, help="frames of a clip, for a symbolic input")
    parser.add_argument("--size", type=int, help="height and width, for a symbolic input")
    args = parser.parse_args()
    n = macs(args.model, args.frames, args.size)
    if args.json:
        print(json.dumps({"model": args.model, "macs": n, "gmac": round(n / 1e9, 2)}))
    else:
        print(f"{n / 1e9:.2f} GMAC")


if __name__ == "__main__":
    main()
