"""scripts/cam.py: the activation map output explains the score it comes with, and replacing it
after the classifier changed leaves one map, of the new classifier.

Run: .cache/venv/bin/python -m unittest discover -s scripts/tests
"""
import pathlib
import sys
import unittest

import numpy as np

SCRIPTS = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SCRIPTS))
from cam import with_cam  # noqa: E402


def tiny_model(fc_w: np.ndarray, fc_b: np.ndarray):
    """[batch, 4, 2, 3, 3] features -> GlobalAveragePool 'pool' -> Flatten -> Gemm 'logits',
    the tail of mc3_18's graph (its input stands for the body's last feature map)."""
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["layer4_1_out"]),
            helper.make_node("GlobalAveragePool", ["layer4_1_out"], ["pool"]),
            helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
        ],
        "tail",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 2, 3, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
        initializer=[numpy_helper.from_array(fc_w, "fc_w"), numpy_helper.from_array(fc_b, "fc_b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def run(model, x):
    import onnxruntime as ort
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["logits", "cam"], {"x": x})


class ActivationMap(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(7)
        self.x = rng.standard_normal((3, 4, 2, 3, 3)).astype(np.float32)
        self.w = rng.standard_normal((2, 4)).astype(np.float32)
        self.b = np.array([0.3, -0.2], dtype=np.float32)

    def test_the_maps_mean_is_the_fight_logit_minus_the_other(self):
        import onnx
        model = with_cam(tiny_model(self.w, self.b))
        onnx.checker.check_model(model, full_check=True)
        logits, cam = run(model, self.x)
        self.assertEqual(cam.shape, (3, 3, 3))
        np.testing.assert_allclose(cam.mean(axis=(1, 2)), logits[:, 0] - logits[:, 1], atol=1e-5)
        # Per cell: the weighted channels of the time-averaged map (the definition, by hand).
        features = np.maximum(self.x, 0).mean(axis=2)
        by_hand = np.einsum("c,bcyx->byx", self.w[0] - self.w[1], features) + (self.b[0] - self.b[1])
        np.testing.assert_allclose(cam, by_hand, atol=1e-5)

    def test_a_new_classifier_replaces_the_map(self):
        from onnx import numpy_helper
        model = with_cam(tiny_model(self.w, self.b))
        for init in model.graph.initializer:
            if init.name == "fc_w":
                init.CopyFrom(numpy_helper.from_array(-self.w, "fc_w"))
        model = with_cam(model)
        self.assertEqual(sum(o.name == "cam" for o in model.graph.output), 1)
        self.assertEqual(sum(n.name == "cam_conv" for n in model.graph.node), 1)
        logits, cam = run(model, self.x)
        np.testing.assert_allclose(cam.mean(axis=(1, 2)), logits[:, 0] - logits[:, 1], atol=1e-5)


if __name__ == "__main__":
    unittest.main()
