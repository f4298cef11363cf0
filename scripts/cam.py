"""The class activation map output of the mc3_18 packages ("Where in the picture").

mc3_18 ends in global average pooling then one linear layer, so the fight logit is the mean over
time and space of one weighted sum of the last feature map's channels. `with_cam` adds that sum
per cell as a second output, `cam` [batch, h, w] (h, w: the input's 1/16):

    cam[y, x] = sum_c (w_fight[c] - w_other[c]) * mean_t F[c, t, y, x] + (b_fight - b_other)

so the mean of `cam` over its cells is the fight logit minus the other logit: the map explains
the score it comes with (fightwatch checks this when it loads a package). It costs one 1x1
convolution on a 512 x 5 x 5 (80x80 input) or 512 x 7 x 7 (112x112) map: nothing beside the body.

The graph's names: the map feeds the node whose output is `pool` (GlobalAveragePool), the
classifier is the Gemm whose output is `logits` (weights `fc_w`, `fc_b`; label 0 is "fight").
The new nodes' names start with `cam_`; `with_cam` replaces any it finds, so it can run again
after the classifier changed (scripts/make_mc3_6x80.py). The quantizer must leave `cam_conv`
alone (scripts/quantize_mc3.py excludes it): the map is read as it is, in FP32.
"""
from __future__ import annotations

import numpy as np

CAM = "cam"
PREFIX = "cam_"
FIGHT = 0  # label 0 is "fight" in every mc3_18 package


def with_cam(model):
    """`model` (an onnx ModelProto of an mc3_18 package) with the `cam` output, built from its
    current classifier; any earlier one is replaced."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    kept = [n for n in graph.node if not n.name.startswith(PREFIX)]
    del graph.node[:]
    graph.node.extend(kept)
    inits = [i for i in graph.initializer if not i.name.startswith(PREFIX)]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    outputs = [o for o in graph.output if o.name != CAM]
    del graph.output[:]
    graph.output.extend(outputs)

    pool = next(n for n in graph.node if list(n.output) == ["pool"] and n.op_type == "GlobalAveragePool")
    gemm = next(n for n in graph.node if list(n.output) == ["logits"] and n.op_type == "Gemm")
    if not any(a.name == "transB" and a.i == 1 for a in gemm.attribute):
        raise ValueError("the classifier Gemm must have transB=1 (weights [classes, features])")
    params = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    fc_w, fc_b = params[gemm.input[1]].astype(np.float64), params[gemm.input[2]].astype(np.float64)
    others = [r for r in range(fc_w.shape[0]) if r != FIGHT]
    weight = fc_w[FIGHT] - fc_w[others].mean(axis=0)
    bias = fc_b[FIGHT] - fc_b[others].mean()
    channels = weight.shape[0]
    graph.initializer.extend([
        numpy_helper.from_array(weight.astype(np.float32).reshape(1, channels, 1, 1), "cam_w"),
        numpy_helper.from_array(np.array([bias], dtype=np.float32), "cam_b"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "cam_axis"),
    ])
    graph.node.extend([
        # Mean over time first: [batch, C, T, h, w] -> [batch, C, h, w].
        helper.make_node("ReduceMean", [pool.input[0]], ["cam_time"], name="cam_time", axes=[2], keepdims=0),
        helper.make_node("Conv", ["cam_time", "cam_w", "cam_b"], ["cam_map"], name="cam_conv", kernel_shape=[1, 1]),
        helper.make_node("Squeeze", ["cam_map", "cam_axis"], [CAM], name="cam_squeeze"),
    ])
    graph.output.append(helper.make_tensor_value_info(CAM, TensorProto.FLOAT, ["batch", "cam_h", "cam_w"]))
    return model
