#!/usr/bin/env python3
"""Build the tiny ONNX model the ONNX Runtime integration test runs, and its expected output.

The model is a miniature action-recognition network with the same interface as the real ones
(a clip tensor NCTHW in, class probabilities out): Conv3d -> Relu -> GlobalAveragePool ->
Flatten -> Gemm -> Softmax, opset 17, dynamic batch axis. Weights and the test input are seeded.

The expected output is computed by onnx's own reference evaluator (pure numpy, not ONNX Runtime),
so the Rust test compares two independent implementations.

Writes:
  fixtures/onnx/tiny_image_model.onnx  (rank-4 input, for the wrong-rank error test)
  fixtures/onnx/tiny_clip_classifier.onnx
  fixtures/onnx/tiny_clip_classifier.expected.json  (input, shape, expected probabilities)

Usage: .cache/venv/bin/python scripts/make_test_model.py [--out DIR] [--seed N]
"""
import argparse
import json
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

ROOT = pathlib.Path(__file__).resolve().parent.parent


def build_model(rng: np.random.Generator) -> onnx.ModelProto:
    c_in, c_mid, classes = 3, 4, 2
    w = rng.normal(0, 0.5, size=(c_mid, c_in, 3, 3, 3)).astype(np.float32)
    b = rng.normal(0, 0.1, size=(c_mid,)).astype(np.float32)
    fc_w = rng.normal(0, 0.3, size=(classes, c_mid)).astype(np.float32)
    fc_b = rng.normal(0, 0.1, size=(classes,)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["clip", "conv_w", "conv_b"], ["conv"], pads=[1] * 6),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_clip_classifier",
        [helper.make_tensor_value_info("clip", TensorProto.FLOAT, ["batch", c_in, 4, 8, 8])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", classes])],
        initializer=[
            numpy_helper.from_array(w, "conv_w"),
            numpy_helper.from_array(b, "conv_b"),
            numpy_helper.from_array(fc_w, "fc_w"),
            numpy_helper.from_array(fc_b, "fc_b"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="fightwatch-scripts"
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def build_rank4_model() -> onnx.ModelProto:
    """An image (not clip) classifier, NCHW: the wrong input rank for a clip model."""
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["image"], ["pool"]),
         helper.make_node("Flatten", ["pool"], ["logits"], axis=1)],
        "tiny_image_model",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="fightwatch-scripts")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "fixtures" / "onnx")
    ap.add_argument("--seed", type=int, default=20261126)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    model = build_model(rng)
    # Batch of 2 so the dynamic batch axis is exercised.
    clip = rng.uniform(-1, 1, size=(2, 3, 4, 8, 8)).astype(np.float32)
    (probs,) = ReferenceEvaluator(model).run(None, {"clip": clip})

    args.out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, args.out / "tiny_clip_classifier.onnx")
    onnx.save(build_rank4_model(), args.out / "tiny_image_model.onnx")
    expected = {
        "generator": "scripts/make_test_model.py (onnx.reference.ReferenceEvaluator)",
        "seed": args.seed,
        "input_name": "clip",
        "output_name": "probs",
        "input_shape": list(clip.shape),
        "input": [float(v) for v in clip.ravel()],
        "output_shape": list(probs.shape),
        "output": [float(v) for v in probs.ravel()],
    }
    (args.out / "tiny_clip_classifier.expected.json").write_text(json.dumps(expected) + "\n")
    print(f"wrote {args.out}/tiny_clip_classifier.onnx; reference output {probs.tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
