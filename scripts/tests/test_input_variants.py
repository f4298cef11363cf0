"""scripts/make_input_variants.py and scripts/model_macs.py on a tiny model of mc3_18's shape:
a symbolic input still runs at any size, and the work is counted at the size asked for.

Run: .cache/venv/bin/python -m unittest discover -s scripts/tests
"""
import pathlib
import sys
import tempfile
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper

SCRIPTS = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SCRIPTS))
import make_input_variants  # noqa: E402
import model_macs  # noqa: E402

BASE_TOML = """[model]
name = "fight-mc3-18"
file = "model.onnx"

[input]
name = "clip"
frames = 16
sample_fps = 15.0
width = 112
height = 112
resize = "squash"
resize_width = 171
resize_height = 128

[output]
name = "logits"
"""


def tiny_model(path: pathlib.Path) -> None:
    """Conv3d (3→4, 3×3×3, pad 1) → global average pool → flatten → gemm (4→2), input 1×3×16×112×112."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3, 3], rng.standard_normal(4 * 81).astype(np.float32))
    g = helper.make_tensor("g", TensorProto.FLOAT, [2, 4], rng.standard_normal(8).astype(np.float32))
    nodes = [
        helper.make_node("Conv", ["clip", "w"], ["c"], pads=[1, 1, 1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "g"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("clip", TensorProto.FLOAT, ["batch", 3, 16, 112, 112])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        [w, g],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


class InputVariants(unittest.TestCase):
    def test_symbolic_input_and_its_work_at_each_size(self):
        with tempfile.TemporaryDirectory() as d:
            src, dst = pathlib.Path(d, "m.onnx"), pathlib.Path(d, "s.onnx")
            tiny_model(src)
            fixed = model_macs.macs(str(src))
            # 4 output channels × 81 multiply-adds per output element, plus the gemm's 8.
            self.assertEqual(fixed, 16 * 112 * 112 * 4 * 81 + 8)
            make_input_variants.symbolic_input(src, dst)
            dims = onnx.load(str(dst)).graph.input[0].type.tensor_type.shape.dim
            self.assertEqual([x.dim_param for x in dims[2:]], ["frames", "height", "width"])
            self.assertEqual(model_macs.macs(str(dst), 16, 112), fixed)
            self.assertEqual(model_macs.macs(str(dst), 8, 80), 8 * 80 * 80 * 4 * 81 + 8)
            import onnxruntime as ort

            session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
            out = session.run(None, {"clip": np.zeros((1, 3, 8, 80, 80), np.float32)})[0]
            self.assertEqual(out.shape, (1, 2))

    def test_model_toml_keeps_the_window_span_and_proportions(self):
        text = make_input_variants.toml_for(BASE_TOML, 8, 80, "fight-mc3-18-8x80")
        self.assertIn('name = "fight-mc3-18-8x80"', text)
        self.assertIn('name = "clip"', text, "only the model's name changes")
        for line in ("frames = 8", "sample_fps = 7", "width = 80", "height = 80", "resize_width = 122", "resize_height = 91"):
            self.assertIn(line, text.splitlines())


if __name__ == "__main__":
    unittest.main()
