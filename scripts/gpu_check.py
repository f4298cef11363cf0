#!/usr/bin/env python3
"""fightwatch's GPU check: parity, throughput and failure modes of the CUDA path on a real GPU.

Run it through scripts/gpu_check.sh (which sets the library path). Every step runs the real
fightwatch binary; the summary is one JSON object on stdout (and in $GPU_CHECK_JSON). Exit status
0 only when every check passed. Steps:

1. nvidia-smi: the card, its driver and memory;
2. `fightwatch model inspect` on each model (the GPU build of ONNX Runtime loads them);
3. parity: `fightwatch replay --json --verbose` of every fixture on cuda and on cpu; per-window
   fight scores within 1e-3, incidents identical (camera, start, end, peak time);
4. failure modes: `--device cuda:7` (no such GPU) and a loader path without cuDNN fail with a
   clear error and exit != 0; `--device auto` settles on the GPU and logs it;
5. `fightwatch model bench` at batch 1, 8 and 32 on cuda and on the CPU cores (and the CPU
   default model, int8, on cuda alone);
6. decode side: N copies of a 1080p H.264 stream decoded alone on the CPU and with NVDEC
   (`probe --decode cpu|cuda`), then replayed as fast as possible through the whole path on
   the GPU (`replay --decode cpu|cuda`): decoded frames/s, i.e. how many 25 fps cameras the
   path can feed, with CPU and GPU utilisation and the inference thread's input writing;
7. TensorRT: where the machine has its libraries, one run of the `tensorrt` provider (model
   bench, parity with the CPU on one fixture); else the reason it did not run.

Standard library only: the device this runs on may have nothing else.
"""
from __future__ import annotations

import json
import os
import pathlib
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
FW = os.environ.get("FW_BIN", str(ROOT / "target" / "release" / "fightwatch"))
MODELS = os.environ.get("GPU_CHECK_MODELS", "models/fight-demo models/fight-mc3-18").split()
BENCH_SECONDS = os.environ.get("BENCH_SECONDS", "5")
# Benchmarked on the GPU only: the CPU default model (int8, 6 frames of 80x80) on the device.
GPU_ONLY_MODELS = os.environ.get("GPU_CHECK_GPU_ONLY_MODELS", "models/fight-mc3-18-6x80-int8").split()
STREAM = os.environ.get("STREAM_1080P")
WORK = pathlib.Path(os.environ.get("GPU_CHECK_DIR") or tempfile.mkdtemp(prefix="gpu-check-"))
TOLERANCE = 1e-3
# The device under test; `cpu` dry-runs this script on a machine without a GPU.
GPU = os.environ.get("GPU_CHECK_DEVICE", "cuda")
FIXTURES = sorted(
    str(p.relative_to(ROOT))
    for p in (ROOT / "fixtures").iterdir()
    if p.suffix in {".mp4", ".mkv", ".avi", ".webm"}
)

summary: dict = {"binary": FW, "onnxruntime_lib": os.environ.get("ORT_DYLIB_PATH"), "work_dir": str(WORK)}
failures: list[str] = []


def log(msg: str) -> None:
    print(f"[gpu-check {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(args: list[str], name: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs a command, keeps its output in WORK/name.{out,err}, returns the result."""
    t = time.monotonic()
    try:
        p = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        p = subprocess.CompletedProcess(args, 124, e.stdout or "", (e.stderr or "") + f"\ntimed out after {timeout} s")
    (WORK / f"{name}.out").write_text(p.stdout if isinstance(p.stdout, str) else p.stdout.decode())
    (WORK / f"{name}.err").write_text(p.stderr if isinstance(p.stderr, str) else p.stderr.decode())
    log(f"{name}: exit {p.returncode} in {time.monotonic() - t:.1f} s")
    return p


def fail(what: str) -> None:
    log(f"FAIL {what}")
    failures.append(what)


def error_line(stderr: str) -> str:
    """The error a user sees: the last lines that say 'Error' or 'error'."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    hits = [l for l in lines if "rror" in l or "cannot" in l]
    return " | ".join((hits or lines)[-3:])[:600]


def children_cpu_s() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def gpu_info() -> None:
    smi = shutil.which("nvidia-smi")
    if not smi:
        fail("nvidia-smi not found")
        return
    p = run([smi, "--query-gpu=name,driver_version,memory.total,compute_cap", "--format=csv,noheader"], "nvidia-smi")
    summary["gpu"] = p.stdout.strip() if p.returncode == 0 else None
    if p.returncode != 0:
        fail("nvidia-smi failed: " + error_line(p.stderr))
    summary["cpu"] = {"cores": os.cpu_count(), "model": cpu_model(), "machine": platform.machine()}


def cpu_model() -> str | None:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def inspect() -> None:
    out = {}
    for model in MODELS:
        p = run([FW, "model", "inspect", model, "--json"], f"inspect-{pathlib.Path(model).name}")
        if p.returncode != 0:
            fail(f"model inspect {model}: {error_line(p.stderr)}")
            continue
        info = json.loads(p.stdout)
        out[model] = {"inputs": [i["dims"] for i in info["inputs"]], "check": info["package"]["config_check"]}
        summary["onnxruntime"] = info.get("onnxruntime")
    summary["inspect"] = out


def replay(model: str, device: str, name: str, extra: list[str] | None = None, env: dict | None = None, sources=None):
    args = [FW, "replay", *(sources or FIXTURES), "--model", model, "--device", device, "--json", "--verbose", *(extra or [])]
    return run(args, name, env=env)


def events(stdout: str) -> list[dict]:
    return [json.loads(l) for l in stdout.splitlines() if l.startswith("{")]


def parity() -> None:
    out = {}
    for model in MODELS:
        short = pathlib.Path(model).name
        res = {}
        for device in (GPU, "cpu"):
            t = time.monotonic()
            p = replay(model, device, f"replay-{short}-{device}")
            res[device] = (p, time.monotonic() - t)
        (gpu, gpu_s), (cpu, cpu_s) = res[GPU], res["cpu"]
        if gpu.returncode != 0 or cpu.returncode != 0:
            fail(f"parity {short}: replay failed (cuda exit {gpu.returncode}, cpu exit {cpu.returncode}): "
                 + error_line(gpu.stderr if gpu.returncode else cpu.stderr))
            continue
        ge, ce = events(gpu.stdout), events(cpu.stdout)
        win = lambda ev: {(e["camera"], round(e["t"], 6)): e["score"] for e in ev if e.get("event") == "window"}
        gw, cw = win(ge), win(ce)
        diffs = [abs(gw[k] - cw[k]) for k in cw if k in gw]
        inc = lambda ev: sorted((e["camera"], e["event"], round(e["t"], 6), round(e.get("peak_t", -1), 6))
                                for e in ev if e.get("event") in ("incident_started", "incident_ended"))
        same_incidents = inc(ge) == inc(ce)
        row = {
            "windows": len(cw),
            "windows_matched": len(diffs),
            "max_abs_diff": max(diffs) if diffs else None,
            "incidents": len([e for e in ce if e.get("event") == "incident_started"]),
            "incidents_identical": same_incidents,
            "replay_s": {GPU: round(gpu_s, 2), "cpu": round(cpu_s, 2)},
        }
        out[short] = row
        if set(gw) != set(cw) or not diffs:
            fail(f"parity {short}: windows differ (cuda {len(gw)}, cpu {len(cw)})")
        elif max(diffs) > TOLERANCE:
            fail(f"parity {short}: max score difference {max(diffs):.2e} > {TOLERANCE}")
        if not same_incidents:
            fail(f"parity {short}: incidents differ")
    summary["parity"] = out


def failure_modes() -> None:
    out = {}
    model, fixture = "models/fight-demo", ["fixtures/fight_street.mp4"]
    # No such GPU.
    p = replay(model, "cuda:7", "fail-cuda7", sources=fixture)
    out["cuda_7"] = {"exit": p.returncode, "error": error_line(p.stderr), "windows_scored": len(events(p.stdout))}
    if p.returncode == 0 or events(p.stdout):
        fail("--device cuda:7 did not fail cleanly")
    # No cuDNN: the loader path without its folder (only meaningful when it is not system-wide).
    path = os.environ.get("LD_LIBRARY_PATH", "")
    no_cudnn = ":".join(d for d in path.split(":") if d and "cudnn" not in d)
    system_cudnn = subprocess.run(["sh", "-c", "ldconfig -p | grep -q 'libcudnn.so.9'"]).returncode == 0
    env = dict(os.environ, LD_LIBRARY_PATH=no_cudnn)
    args = [FW, "replay", *fixture, "--model", model, "--device", GPU, "--json"]
    how = "LD_LIBRARY_PATH without its folder"
    if system_cudnn:
        # Installed system-wide: hide it from this one process instead, in a private mount
        # namespace where each libcudnn file reads as empty (needs root; changes nothing outside).
        # unshare and mount run with the system's libraries; only fightwatch gets the path.
        hide = ("set -e; for f in $(ldconfig -p | awk '/libcudnn/ {print $NF}'); do "
                "mount --bind /dev/null \"$(readlink -f \"$f\")\" || exit 97; done; "
                "exec env LD_LIBRARY_PATH=\"$FW_LD_PATH\" \"$@\"")
        args = ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "sh", *args]
        env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
        env["FW_LD_PATH"] = no_cudnn
        how = "system-wide cuDNN hidden in a private mount namespace"
    p = run(args, "fail-no-cudnn", env=env)
    if p.returncode == 97 or "unshare:" in p.stderr:
        out["no_cudnn"] = {"skipped": f"cannot hide the system-wide cuDNN here: {error_line(p.stderr)}"}
    else:
        out["no_cudnn"] = {"how": how, "exit": p.returncode, "error": error_line(p.stderr),
                           "windows_scored": len(events(p.stdout))}
        if p.returncode == 0 or events(p.stdout):
            fail("a missing cuDNN did not fail cleanly")
    # auto picks the GPU and says so.
    p = replay(model, "auto", "auto", sources=fixture)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", p.stderr)
    said = re.findall(r'device="?([a-z]+(?::\d+)?)"?\s+asked="?auto', plain)
    out["auto"] = {"exit": p.returncode, "device": said[0] if said else None}
    if p.returncode != 0 or not said or not said[0].startswith(GPU.split(":")[0]):
        fail(f"--device auto did not settle on the GPU: {error_line(p.stderr)}")
    summary["failure_modes"] = out


def bench() -> None:
    out = {}
    for model in [*MODELS, *GPU_ONLY_MODELS]:
        short = pathlib.Path(model).name
        out[short] = {}
        for device in (GPU, "cpu") if model in MODELS else (GPU,):
            p = run([FW, "model", "bench", model, "--device", device, "--batch", "1,8,32",
                     "--seconds", BENCH_SECONDS, "--json"], f"bench-{short}-{device}", timeout=600)
            if p.returncode != 0:
                fail(f"bench {short} {device}: {error_line(p.stderr)}")
                continue
            b = json.loads(p.stdout)
            out[short][device] = {
                "load_s": round(b["load_s"], 2),
                "batches": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()} for row in b["batches"]],
            }
    summary["bench"] = out


class GpuBusy:
    """The GPU's mean utilisation (0-1) while the block runs, sampled by nvidia-smi every
    250 ms; None without nvidia-smi or samples."""

    def __enter__(self):
        smi = shutil.which("nvidia-smi")
        index = GPU.split(":")[1] if ":" in GPU else "0"
        self.mean = None
        self.proc = subprocess.Popen(
            [smi, "-i", index, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "250"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) if smi else None
        return self

    def __exit__(self, *exc):
        if self.proc is None:
            return False
        self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        samples = [float(v) for v in out.split() if re.fullmatch(r"\d+(\.\d+)?", v)]
        self.mean = round(sum(samples) / len(samples) / 100.0, 2) if samples else None
        return False


def decode_side() -> None:
    if not STREAM:
        summary["decode"] = {"skipped": "set STREAM_1080P to a 1080p H.264 file"}
        return
    probe = run([FW, "probe", STREAM, "--json"], "probe-1080p")
    if probe.returncode != 0:
        fail(f"probe {STREAM}: {error_line(probe.stderr)}")
        return
    info = json.loads(probe.stdout)
    out = {"stream": {k: info.get(k) for k in ("codec", "width", "height", "fps", "duration_s", "decode_fps")},
           "decode_only": [], "runs": []}
    cores = os.cpu_count() or 1
    # Decoding alone: N `fightwatch probe` processes at once (FFmpeg's own threads in each), on
    # the CPU and with NVDEC (`--decode cuda`: FFmpeg's CUDA hwaccel, frames copied back).
    for decode in ("cpu", "cuda"):
        for copies in sorted({max(1, cores // 2), cores, cores * 2}):
            t, cpu0 = time.monotonic(), children_cpu_s()
            procs = [subprocess.Popen([FW, "probe", STREAM, "--json", "--decode", decode], cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(copies)]
            results = [p.communicate(timeout=300) for p in procs]
            wall = time.monotonic() - t
            broken = [error_line(err) for (o, err), p in zip(results, procs) if p.returncode != 0]
            if broken:
                fail(f"decode only ({decode}), {copies} streams: {broken[0]}")
                out["decode_only"].append({"decode": decode, "streams": copies, "error": broken[0]})
                break
            frames = sum(json.loads(o)["frames"] for o, _ in results)
            out["decode_only"].append({
                "decode": decode, "streams": copies, "frames": frames, "wall_s": round(wall, 2),
                "frames_per_s": round(frames / wall, 1), "realtime_25fps_streams": round(frames / wall / 25.0, 1),
                "cpu_busy": round((children_cpu_s() - cpu0) / wall / cores, 2),
            })
            log(f"decode only ({decode}), {copies} streams: {frames / wall:.0f} frames/s")
    # The whole path: decode (CPU, then NVDEC when it decoded above), resize, clips, batches on
    # the GPU, incidents; with the GPU's utilisation sampled meanwhile (the question behind
    # "more than one inference stream": does one keep the GPU busy?).
    nvdec = any(r.get("decode") == "cuda" and "error" not in r for r in out["decode_only"])
    for decode in ("cpu", "cuda") if nvdec else ("cpu",):
        for copies in sorted({max(1, cores // 2), cores, cores * 2}):
            t, cpu0 = time.monotonic(), children_cpu_s()
            with GpuBusy() as gpu:
                p = replay(MODELS[-1], GPU, f"whole-{decode}-{copies}", extra=["--decode", decode],
                           sources=[STREAM] * copies)
            wall = time.monotonic() - t
            busy = (children_cpu_s() - cpu0) / wall / cores
            if p.returncode != 0:
                fail(f"whole path ({decode} decode), {copies} streams: {error_line(p.stderr)}")
                continue
            s = [e for e in events(p.stdout) if e.get("event") == "summary"][-1]
            fps = s["frames"] / s["elapsed_s"]
            out["runs"].append({
                "decode": decode, "streams": copies, "frames": s["frames"], "elapsed_s": round(s["elapsed_s"], 2),
                "frames_per_s": round(fps, 1), "windows": s["windows"], "inference_s": round(s["inference_s"], 2),
                # Of the model time, the inference thread writing clips into the (pinned)
                # input buffer, and the batches written during the previous run instead.
                "fill_s": round(s.get("fill_s", 0.0), 3), "prefetched": s.get("prefetched"),
                "model_ms_per_clip": round(1e3 * s["inference_s"] / max(1, s["windows"]), 2),
                "realtime_25fps_streams": round(fps / 25.0, 1), "wall_s": round(wall, 2),
                "cpu_busy": round(busy, 2), "gpu_busy": gpu.mean,
            })
            log(f"whole path ({decode} decode), {copies} streams: {fps / 25.0:.1f} cameras, GPU {gpu.mean}")
    summary["decode"] = out


def tensorrt() -> None:
    """One run of the TensorRT provider on mc3_18 (model bench, and parity with the CPU on one
    fixture) when this machine has TensorRT's libraries and the bundle its provider; else why
    not. TensorRT is optional: its trouble is reported here, not counted as a failure."""
    found = "libnvinfer.so" in subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for d in os.environ.get("LD_LIBRARY_PATH", "").split(":"):
        found = found or (bool(d) and any(pathlib.Path(d).glob("libnvinfer.so*")))
    lib = os.environ.get("ORT_DYLIB_PATH")
    provider = pathlib.Path(lib).parent / "libonnxruntime_providers_tensorrt.so" if lib else None
    if not found:
        summary["tensorrt"] = {"available": False, "why": "no TensorRT libraries (libnvinfer) on this machine"}
        return
    if provider is None or not provider.exists():
        summary["tensorrt"] = {"available": False, "why": "no TensorRT provider beside the ONNX Runtime library"}
        return
    model, device = MODELS[-1], "tensorrt" + (GPU[GPU.index(":"):] if ":" in GPU else "")
    out: dict = {"available": True, "device": device}
    # TensorRT builds an engine per input shape first: minutes for a 3D CNN, hence the timeouts.
    b = run([FW, "model", "bench", model, "--device", device, "--batch", "1,8", "--seconds", BENCH_SECONDS,
             "--json"], "bench-tensorrt", timeout=300)
    if b.returncode == 0:
        rows = json.loads(b.stdout)["batches"]
        out["bench"] = [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()} for row in rows]
    else:
        out["bench_error"] = error_line(b.stderr)
    clip = [FIXTURES[0]]
    trt = replay(model, device, "replay-tensorrt", sources=clip)
    cpu = replay(model, "cpu", "replay-tensorrt-cpu", sources=clip)
    if trt.returncode == 0 and cpu.returncode == 0:
        win = lambda p: {round(e["t"], 6): e["score"] for e in events(p.stdout) if e.get("event") == "window"}
        tw, cw = win(trt), win(cpu)
        diffs = [abs(tw[t] - cw[t]) for t in cw if t in tw]
        out["parity"] = {"windows": len(cw), "matched": len(diffs), "max_abs_diff": max(diffs) if diffs else None}
    else:
        out["parity_error"] = error_line(trt.stderr if trt.returncode else cpu.stderr)
    summary["tensorrt"] = out


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    if not os.access(FW, os.X_OK):
        print(json.dumps({"pass": False, "failures": [f"no fightwatch binary at {FW} (set FW_BIN)"]}))
        return 2
    started = time.monotonic()
    steps = (gpu_info, inspect, parity, failure_modes, bench, decode_side, tensorrt)
    only = os.environ.get("GPU_CHECK_STEPS", "").split()  # e.g. "gpu_info failure_modes"
    for step in steps:
        if only and step.__name__ not in only:
            continue
        log(f"step {step.__name__}")
        try:
            step()
        except Exception as e:  # a broken step is a failed check, and the others still run
            fail(f"{step.__name__}: {type(e).__name__}: {e}")
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["failures"] = failures
    summary["pass"] = not failures
    text = json.dumps(summary, indent=1)
    print(text)
    if os.environ.get("GPU_CHECK_JSON"):
        pathlib.Path(os.environ["GPU_CHECK_JSON"]).write_text(text + "\n")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
