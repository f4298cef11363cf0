#!/usr/bin/env python3
"""Fetch the real fight model (torchvision mc3_18 fine-tuned for fight detection) and convert it
to ONNX without torch: models/fight-mc3-18/model.onnx.

Source: the PyPI package Feight-Detection-From-Surveillance-Cameras==0.0.1 (sic; MIT licence)
ships fight_detection/model_16_m3_0.8888.pth, a torch.save() zip of the model's state_dict.

Steps, each checked:
  1. `pip download --no-deps` the wheel into .cache/models/ and verify its sha256;
  2. read the checkpoint's data.pkl with a restricted unpickler that only accepts the handful of
     globals a state_dict needs (no code from the file runs), and its tensors as numpy arrays;
  3. rebuild the mc3_18 graph with onnx.helper (opset 17, dynamic batch), folding each
     BatchNorm into the convolution before it (computed in float64);
  4. check the graph and write it, then verify the result's sha256 (the conversion is
     deterministic, so a rerun gives the same bytes).

Idempotent: does nothing when model.onnx already has the expected sha256.

Usage: .cache/venv/bin/python scripts/fetch_model.py [--force] [--wheel-sha256 HEX] [--index-url URL]
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import io
import pathlib
import pickle
import subprocess
import sys
import zipfile

import numpy as np

from cam import with_cam  # scripts/cam.py: the activation map output

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = "Feight-Detection-From-Surveillance-Cameras==0.0.1"
WHEEL = "Feight_Detection_From_Surveillance_Cameras-0.0.1-py3-none-any.whl"
WHEEL_SHA256 = "2264248b3b2cb01a8821b9c321d48f9220b2b65565dcdb595c2d2c426b0c8fcb"
CHECKPOINT = "fight_detection/model_16_m3_0.8888.pth"
ONNX_SHA256 = "3b19c8d75ab8cb9a26abcab827f187f0d79489b64b4082dfea0a36256cb31b9f"
OUT_DIR = ROOT / "models" / "fight-mc3-18"
BN_EPS = 1e-5  # torch.nn.BatchNorm3d default, which torchvision's VideoResNet uses


class FetchError(Exception):
    """A failure with a message meant for the user."""


def sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- 1. download ------------------------------------------------------------------------------

def verify_sha256(path: pathlib.Path, expected: str) -> None:
    """Raises FetchError (and deletes the file) unless `path` has sha256 `expected`."""
    got = sha256(path)
    if got != expected:
        path.unlink()
        raise FetchError(f"sha256 mismatch for {path.name}: expected {expected}, got {got}; "
                         "the file was deleted. Refusing to convert an unverified checkpoint.")


def download_wheel(cache: pathlib.Path, expected_sha: str, index_url: str | None) -> pathlib.Path:
    wheel = cache / WHEEL
    if wheel.exists():
        if sha256(wheel) == expected_sha:
            return wheel
        wheel.unlink()  # pip would keep a bad file it finds in place
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-q",
           "--disable-pip-version-check", "--retries", "1", "--timeout", "20", "-d", str(cache), PACKAGE]
    if index_url:
        cmd += ["--index-url", index_url]
    print(f"fetch_model: downloading {PACKAGE} (~43 MB) from PyPI", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not wheel.exists():
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FetchError(f"could not download {PACKAGE} from the package index "
                         f"({index_url or 'PyPI'}): is the network reachable? pip said: {detail[0]}")
    verify_sha256(wheel, expected_sha)
    return wheel


# --- 2. restricted checkpoint reader ---------------------------------------------------------

STORAGE_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "HalfStorage": np.float16,
                  "DoubleStorage": np.float64, "IntStorage": np.int32}


class _StorageType:
    def __init__(self, name: str):
        self.dtype = STORAGE_DTYPES[name]


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    itemsize = storage.itemsize
    if not size:
        return storage[offset:offset + 1].reshape(()).copy()
    return np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)).copy()


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a torch state_dict and nothing else: any other global is refused."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"checkpoint refers to {module}.{name}, which a plain "
                                     "state_dict never needs; refusing to load it")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        raw = self.archive.read(f"{self.prefix}/data/{key}")
        arr = np.frombuffer(raw, dtype=np.dtype(storage_type.dtype).newbyteorder("<"))
        if arr.size != numel:
            raise pickle.UnpicklingError(f"storage {key}: {arr.size} elements, expected {numel}")
        return arr


def read_state_dict(pth_bytes: bytes) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(io.BytesIO(pth_bytes)) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")]
        if len(pkl) != 1:
            raise FetchError("checkpoint is not a torch zip archive with one data.pkl")
        prefix = pkl[0][: -len("/data.pkl")]
        state = RestrictedUnpickler(z.read(pkl[0]), z, prefix).load()
    if not isinstance(state, dict):
        raise FetchError("checkpoint does not hold a state_dict")
    return {k: np.asarray(v) for k, v in state.items()}


# --- 3. mc3_18 graph ----------------------------------------------------------------------------

class GraphBuilder:
    def __init__(self, state: dict[str, np.ndarray]):
        from onnx import numpy_helper
        self.state, self.used = state, set()
        self.nodes, self.inits = [], []
        self.numpy_helper = numpy_helper

    def param(self, key: str) -> np.ndarray:
        if key not in self.state:
            raise FetchError(f"checkpoint has no {key}: not an mc3_18 state_dict")
        self.used.add(key)
        return self.state[key].astype(np.float64)

    def conv_bn(self, x: str, conv: str, bn: str, stride, pad, relu: bool) -> str:
        from onnx import helper
        w = self.param(f"{conv}.weight")
        gamma, beta = self.param(f"{bn}.weight"), self.param(f"{bn}.bias")
        mean, var = self.param(f"{bn}.running_mean"), self.param(f"{bn}.running_var")
        self.used.add(f"{bn}.num_batches_tracked")
        scale = gamma / np.sqrt(var + BN_EPS)
        wf = (w * scale[:, None, None, None, None]).astype(np.float32)
        bf = (beta - mean * scale).astype(np.float32)
        name = conv.replace(".", "_")
        self.inits += [self.numpy_helper.from_array(wf, f"{name}_w"), self.numpy_helper.from_array(bf, f"{name}_b")]
        out = f"{name}_out"
        self.nodes.append(helper.make_node("Conv", [x, f"{name}_w", f"{name}_b"], [out], name=name,
                                           kernel_shape=list(w.shape[2:]), strides=list(stride),
                                           pads=list(pad) * 2))
        if relu:
            self.nodes.append(helper.make_node("Relu", [out], [f"{name}_relu"]))
            out = f"{name}_relu"
        return out

    def basic_block(self, x: str, prefix: str, temporal: bool, stride: int, downsample: bool) -> str:
        from onnx import helper
        # torchvision Conv3DSimple (3x3x3) in layer1; Conv3DNoTemporal (1x3x3) in layers 2-4.
        s = (stride, stride, stride) if temporal else (1, stride, stride)
        pad = (1, 1, 1) if temporal else (0, 1, 1)
        h = self.conv_bn(x, f"{prefix}.conv1.0", f"{prefix}.conv1.1", s, pad, relu=True)
        h = self.conv_bn(h, f"{prefix}.conv2.0", f"{prefix}.conv2.1", (1, 1, 1), pad, relu=False)
        res = self.conv_bn(x, f"{prefix}.downsample.0", f"{prefix}.downsample.1", s, (0, 0, 0), relu=False) \
            if downsample else x
        name = prefix.replace(".", "_")
        self.nodes.append(helper.make_node("Add", [h, res], [f"{name}_add"]))
        self.nodes.append(helper.make_node("Relu", [f"{name}_add"], [f"{name}_out"]))
        return f"{name}_out"

    def build(self, frames: int = 16, size: int = 112):
        import onnx
        from onnx import TensorProto, helper
        x = self.conv_bn("clip", "stem.0", "stem.1", (1, 2, 2), (1, 3, 3), relu=True)
        for layer, stride in zip(range(1, 5), (1, 2, 2, 2)):
            temporal = layer == 1
            x = self.basic_block(x, f"layer{layer}.0", temporal, stride, downsample=stride != 1)
            x = self.basic_block(x, f"layer{layer}.1", temporal, 1, downsample=False)
        fc_w = self.param("fc.weight").astype(np.float32)
        fc_b = self.param("fc.bias").astype(np.float32)
        self.inits += [self.numpy_helper.from_array(fc_w, "fc_w"), self.numpy_helper.from_array(fc_b, "fc_b")]
        self.nodes += [
            helper.make_node("GlobalAveragePool", [x], ["pool"]),
            helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
        ]
        unused = set(self.state) - self.used
        if unused:
            raise FetchError(f"checkpoint has keys mc3_18 does not use: {sorted(unused)[:5]}")
        classes = fc_w.shape[0]
        graph = helper.make_graph(
            self.nodes, "mc3_18_fight",
            [helper.make_tensor_value_info("clip", TensorProto.FLOAT, ["batch", 3, frames, size, size])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
            initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                  producer_name="fightwatch scripts/fetch_model.py", producer_version="1")
        model.ir_version = 8
        model.doc_string = ("torchvision mc3_18, fc=Linear(512,2), fine-tuned for fight detection; "
                            "class 0 = fight, 1 = noFight. Converted without torch, BatchNorm folded.")
        with_cam(model)  # the fight class's activation map as a second output (scripts/cam.py)
        onnx.checker.check_model(model, full_check=True)
        return model


def convert(wheel: pathlib.Path, out: pathlib.Path) -> None:
    import onnx
    with zipfile.ZipFile(wheel) as z:
        if CHECKPOINT not in z.namelist():
            raise FetchError(f"{wheel.name} has no {CHECKPOINT}")
        pth = z.read(CHECKPOINT)
    state = read_state_dict(pth)
    model = GraphBuilder(state).build()
    tmp = out.with_suffix(".onnx.tmp")
    onnx.save(model, tmp)
    tmp.replace(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path, default=OUT_DIR / "model.onnx")
    ap.add_argument("--cache", type=pathlib.Path, default=ROOT / ".cache" / "models")
    ap.add_argument("--force", action="store_true", help="convert again even if model.onnx is up to date")
    ap.add_argument("--wheel-sha256", default=WHEEL_SHA256, help="expected sha256 of the wheel")
    ap.add_argument("--onnx-sha256", default=ONNX_SHA256, help="expected sha256 of the converted model")
    ap.add_argument("--index-url", help="package index to download from (default: pip's)")
    args = ap.parse_args()
    try:
        if not args.force and args.out.exists() and sha256(args.out) == args.onnx_sha256:
            print(f"fetch_model: ok {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} "
                  "(sha256 verified)")
            return 0
        wheel = download_wheel(args.cache, args.wheel_sha256, args.index_url)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        convert(wheel, args.out)
        got = sha256(args.out)
        if got != args.onnx_sha256:
            raise FetchError(f"converted model sha256 {got} differs from the expected {args.onnx_sha256}: "
                             "the converter or its numpy/onnx versions changed")
        print(f"fetch_model: converted {CHECKPOINT} -> {args.out} (sha256 {got[:16]}…)")
        return 0
    except FetchError as e:
        print(f"fetch_model: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
