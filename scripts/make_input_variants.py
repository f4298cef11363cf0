#!/usr/bin/env python3
"""mc3_18 at other input sizes: model packages whose ONNX input has symbolic frames, height and
width (mc3_18 ends in global average pooling, so any size runs), and whose model.toml asks for
FRAMES x SIZE^2 at a sample rate that keeps the window's one-second span.

    .cache/venv/bin/python scripts/make_input_variants.py --out target/variants \\
        --variant 16x112 --variant 8x112 --variant 16x80 --variant 8x80

For each of fight-mc3-18 (FP32) and fight-mc3-18-int8 (INT8) it writes OUT/PACKAGE-TxS/ with
model.onnx (the same weights, input dims made symbolic) and model.toml. The preprocessing keeps
its proportions: the squash size scales with the crop (171x128 for 112 becomes 122x91 for 80).
Nothing is retrained: this measures what the shipped weights give at each size
(scripts/bench_input_sizes.sh).
"""

import argparse
import pathlib
import re

import onnx


def symbolic_input(src: pathlib.Path, dst: pathlib.Path) -> None:
    model = onnx.load(str(src))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for index, name in ((2, "frames"), (3, "height"), (4, "width")):
        dims[index].ClearField("dim_value")
        dims[index].dim_param = name
    # Shapes inferred for the fixed size would contradict the new ones.
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def toml_for(base: str, frames: int, size: int, name: str) -> str:
    """The base model.toml at FRAMES x SIZE^2, the window still spanning (16 - 1) / 15 s."""
    span_s = 15 / 15.0
    fps = (frames - 1) / span_s
    scale = size / 112
    replacements = {
        r"^name = .*$": f'name = "{name}"',
        r"^frames = .*$": f"frames = {frames}",
        r"^sample_fps = .*$": f"sample_fps = {fps:g}",
        r"^width = .*$": f"width = {size}",
        r"^height = .*$": f"height = {size}",
        r"^resize_width = .*$": f"resize_width = {round(171 * scale)}",
        r"^resize_height = .*$": f"resize_height = {round(128 * scale)}",
    }
    text = base
    for pattern, value in replacements.items():
        text, n = re.subn(pattern, value, text, count=1, flags=re.M)
        if n != 1:
            raise SystemExit(f"model.toml has no line matching {pattern}")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--variant", action="append", required=True, help="FRAMESxSIZE, e.g. 8x80")
    parser.add_argument("--models", type=pathlib.Path, default=pathlib.Path("models"))
    args = parser.parse_args()
    for package in ("fight-mc3-18", "fight-mc3-18-int8"):
        src = args.models / package
        base = (src / "model.toml").read_text()
        symbolic = args.out / f"{package}.symbolic.onnx"
        args.out.mkdir(parents=True, exist_ok=True)
        symbolic_input(src / "model.onnx", symbolic)
        for variant in args.variant:
            frames, size = (int(x) for x in variant.split("x"))
            name = f"{package}-{frames}x{size}"
            dst = args.out / name
            dst.mkdir(parents=True, exist_ok=True)
            model = dst / "model.onnx"
            if model.exists() or model.is_symlink():
                model.unlink()
            model.symlink_to(symbolic.resolve())
            (dst / "model.toml").write_text(toml_for(base, frames, size, name))
            print(dst)


if __name__ == "__main__":
    main()
