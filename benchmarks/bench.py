"""Measure every way to serve the clothing model: cold start, warm latency, memory, size and cost.

    make bench                                   # = python benchmarks/bench.py (after the set-up in Makefile)
    python benchmarks/bench.py --runs 2 --warm 50 --output /tmp/bench   # a quick look

Each runtime is measured in fresh processes (``bench_worker.py``; ``--runs`` of them), on the same model and the same
30 real photos (``samples/``, preprocessed once with keras-image-helper), single-threaded unless the name says
otherwise (a Lambda function has one vCPU up to 1,769 MB). The handler row is ``lambda_handler`` itself, invoked with
payload 2.0 events for the photos served on 127.0.0.1. The quantized models are made by chapter 02's
``convert.py``. Writes ``results.json``, ``results.md`` and ``results.png``
under ``--output`` (default ``benchmarks/``), and the table into the README between its ``bench`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_worker
import numpy as np

from tutorial_support import lambda_wheels, prices
from tutorial_support.events import url_event
from tutorial_support.image_server import serve_directory
from tutorial_support.images import find_images, load_batch
from tutorial_support.paths import (
    BENCHMARKS_DIR,
    HANDLER_DIR,
    MODELS_DIR,
    REPO_ROOT,
    SAMPLES_DIR,
    SHARED_DATA_DIR,
    classes,
)
from tutorial_support.readme import update_readme
from tutorial_support.timing import machine, spread

HERE = Path(__file__).resolve().parent
BENCH = REPO_ROOT / ".bench"
OUTPUT = BENCHMARKS_DIR
CONVERT = REPO_ROOT / "solutions" / "02_tflite" / "convert.py"  # chapter 02's converter, run as its command line
CLASSES = classes()  # in the order of the model's outputs
SHARED_VALIDATION = SHARED_DATA_DIR / "validation"
ENV_PYTHON = {"main": Path(sys.executable), "onnxruntime": BENCH / "onnxruntime" / "bin" / "python",
              "tflite-runtime": BENCH / "tflite-runtime" / "bin" / "python"}
# name: (runtime in bench_worker, model file key, threads, environment)
VARIANTS = {
    "Keras (TensorFlow)": ("keras", "keras", 1, "main"),
    "tf.lite (TensorFlow)": ("tf-lite", "float32", 1, "main"),
    "LiteRT": ("litert", "float32", 1, "main"),
    "LiteRT, 2 threads": ("litert", "float32", 2, "main"),
    "LiteRT, dynamic-range": ("litert", "dynamic", 1, "main"),
    "LiteRT, float16": ("litert", "float16", 1, "main"),
    "ONNX Runtime": ("onnxruntime", "onnx", 1, "onnxruntime"),
    "tflite-runtime 2.14": ("tflite-runtime", "float32", 1, "tflite-runtime"),
    "Lambda handler (LiteRT)": ("handler", "shipped", None, "main"),  # the committed .tflite, as it ships
}
# The serving requirements of each runtime, installed for the Lambda platform (chapter 04's lambda_wheels) to measure
# their size on disk.
SERVING_SETS = {
    "Keras (TensorFlow)": ("3.13", ["tensorflow-cpu==2.21.0", "pillow", "keras-image-helper==0.0.2"]),
    "LiteRT": ("3.13", ["-r", str(REPO_ROOT / "requirements" / "serve.txt")]),
    "ONNX Runtime": ("3.13", ["onnxruntime==1.31.1", "pillow", "keras-image-helper==0.0.2"]),
    "tflite-runtime 2.14": ("3.11", ["tflite-runtime==2.14.0", "numpy<2", "pillow"]),
}
SIZE_OF = {"tf.lite (TensorFlow)": "Keras (TensorFlow)", "LiteRT, 2 threads": "LiteRT",
           "LiteRT, dynamic-range": "LiteRT", "LiteRT, float16": "LiteRT", "Lambda handler (LiteRT)": "LiteRT"}
MEMORY_MB = (512, 1024, 2048)


def input_size(tflite: Path) -> int:
    """The side in pixels of the square input of the TF-Lite model ``tflite`` (128 for the compact model, 224 for
    EfficientNet-Lite0), read from the model as the handler reads it.

    Raises:
        ValueError: the model's input is not a batch of square RGB images, (1, side, side, 3).
    """
    from ai_edge_litert.interpreter import Interpreter

    shape = tuple(int(n) for n in Interpreter(model_path=str(tflite)).get_input_details()[0]["shape"])
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
        raise ValueError(f"{tflite}: input of shape {shape}, not (1, side, side, 3)")
    return shape[1]


def prepare_models(work: Path, model_dir: Path = MODELS_DIR) -> tuple[dict[str, Path], dict[str, str]]:
    """The model files measured: Keras, TF-Lite float32, dynamic-range and float16 and ONNX, all made from
    ``model_dir``'s ``clothing-model.keras``, and ``shipped``: its committed ``clothing-model.tflite``, which the
    handler row serves (``models/``, the model that ships, float16; ``models/compact`` for the compact one).

    Returns:
        ({key: path}, {key: why it is missing}) -- ONNX is missing when the tf2onnx set-up of ``make bench`` is.
    """
    keras_model, tflite_model = model_dir / "clothing-model.keras", model_dir / "clothing-model.tflite"
    models = {"keras": keras_model, "shipped": tflite_model}
    missing = {}
    for quantization in ("float32", "dynamic", "float16"):
        models[quantization] = work / f"clothing-model-{quantization}.tflite"
        subprocess.run([sys.executable, str(CONVERT), "--keras-model", str(keras_model), "--quantization",
                        quantization, "--output", str(models[quantization])], check=True, capture_output=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    onnx = work / "clothing-model.onnx"
    tools = BENCH / "tf2onnx"
    if tools.is_dir():
        script = ("import sys, keras, numpy as np; m = keras.models.load_model(sys.argv[1], compile=False); "
                  "m(np.zeros((1,) + m.input_shape[1:], np.float32)); "
                  "m.export(sys.argv[2], format='onnx', verbose=False)")
        env = dict(os.environ, PYTHONPATH=str(tools), TF_CPP_MIN_LOG_LEVEL="2")
        done = subprocess.run([sys.executable, "-c", script, str(keras_model), str(onnx)], env=env,
                              capture_output=True, text=True)
        if done.returncode == 0:
            models["onnx"] = onnx
        else:
            missing["onnx"] = f"the ONNX export failed: {done.stderr.strip().splitlines()[-1:]}"
    else:
        missing["onnx"] = f"{tools} is missing (make bench installs tf2onnx there)"
    return models, missing


def run_worker(python: Path, args: dict, timeout_s: float = 600) -> dict:
    """Start one ``bench_worker.py`` process and return what it measured. Raises RuntimeError if it fails."""
    args = dict(args, t_spawn=time.time())
    # ALLOW_PRIVATE_URLS=1: the handler's photos are served on 127.0.0.1 (serve_directory), which the handler refuses
    # unless told it runs locally (safe_download.py). Set here, for the worker only, as load_test.py sets it for serve.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONDONTWRITEBYTECODE="1", ALLOW_PRIVATE_URLS="1")
    done = subprocess.run([str(python), str(HERE / "bench_worker.py"), json.dumps(args)], env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"{args['runtime']} worker failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(variants: dict, models: dict, missing: dict, runs: int, warm: int, max_seconds: float,
            size: int) -> dict:
    """Run every variant ``runs`` times in fresh processes, on the photos preprocessed to ``size`` pixels (the
    model's ``input_size``); summarise each figure as median and range."""
    samples = find_images(SAMPLES_DIR)
    results = {}
    with tempfile.TemporaryDirectory() as tmp, serve_directory(SAMPLES_DIR) as base:
        inputs = Path(tmp) / "inputs.npy"
        np.save(inputs, load_batch(samples, size))
        urls = [f"{base}/{p.relative_to(SAMPLES_DIR).as_posix()}" for p in samples]
        event = json.dumps(url_event(None))  # bench_worker puts each URL in its body
        for name, (runtime, model, threads, env) in variants.items():
            python = ENV_PYTHON[env]
            if model in missing or not python.exists():
                why = missing.get(model) or f"{python} is missing (make bench creates it where it can)"
                results[name] = {"skipped": why}
                print(f"{name:<26} skipped: {why}", flush=True)
                continue
            args = {"runtime": runtime, "model": str(models[model]), "inputs": str(inputs), "threads": threads,
                    "warm": warm, "max_seconds": max_seconds, "urls": urls, "event": event,
                    "handler_dir": str(HANDLER_DIR)}
            try:
                per_run = [run_worker(python, args) for _ in range(runs)]
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                results[name] = {"skipped": str(e)}
                print(f"{name:<26} skipped: {e}", flush=True)
                continue
            results[name] = summarise(per_run, runtime, model, threads)
            s = results[name]
            print(f"{name:<26} cold {s['cold_s']['median']:6.2f} s   warm p50 {s['warm_p50_ms']['median']:7.2f} ms"
                  f"   p95 {s['warm_p95_ms']['median']:7.2f} ms   peak RSS {s['peak_rss_mb']['median']:6.0f} MB",
                  flush=True)
    return {"variants": results, "samples": [p.relative_to(REPO_ROOT).as_posix() for p in samples]}


def summarise(per_run: list[dict], runtime: str, model: str, threads) -> dict:
    """Median and range over runs of each figure; the last run's answers are kept for the agreement check."""
    summary = {"runtime": runtime, "model": model, "threads": threads, "runs": len(per_run),
               "warm_n": per_run[0]["warm_ms"]["n"]}
    for key in ("startup_s", "imports_s", "load_s", "first_s", "cold_s", "peak_rss_mb"):
        summary[key] = spread([r[key] for r in per_run])
    summary["warm_p50_ms"] = spread([r["warm_ms"]["p50"] for r in per_run])
    summary["warm_p95_ms"] = spread([r["warm_ms"]["p95"] for r in per_run])
    if runtime == "handler":
        summary["pieces_p50_ms"] = {k: statistics.median(r["pieces_ms"][k]["p50"] for r in per_run)
                                    for k in per_run[0]["pieces_ms"]}
        for key in ("bare_invoke_ms", "without_download_ms", "decode_ms"):
            summary[key.replace("_ms", "_p50_ms")] = statistics.median(r[key]["p50"] for r in per_run)
        summary["answers"] = per_run[-1]["answers"]
    else:
        summary["logits"] = per_run[-1]["logits"]
    return summary


def agreement(results: dict, classes: list[str]) -> None:
    """Add each variant's top-1 agreement with Keras (and its largest logit difference) on the 30 photos."""
    reference = results.get("Keras (TensorFlow)", {}).get("logits")
    if reference is None:
        return
    reference = np.array(reference)
    for result in results.values():
        if "logits" in result:
            logits = np.array(result.pop("logits"))
            result["top1_agreement"] = float((logits.argmax(1) == reference.argmax(1)).mean())
            result["max_abs_logit_diff"] = float(np.abs(logits - reference).max())
        elif "answers" in result:
            answers = result.pop("answers")
            result["top1_agreement"] = float(np.mean([a == classes[i] for a, i in zip(answers, reference.argmax(1))]))


def quantization_accuracy(models: dict, data_dir: Path | None, size: int) -> dict:
    """Validation accuracy of the float32, dynamic-range and float16 TF-Lite models, and their agreement with float32.

    Uses ``data_dir`` (the dataset's validation split: one folder per class) when given, else the 30 samples,
    preprocessed to ``size`` pixels (the model's ``input_size``).
    """
    folder = data_dir if data_dir and data_dir.is_dir() else SAMPLES_DIR
    paths = find_images(folder)
    truth = np.array([CLASSES.index(p.parent.name) for p in paths])
    x = load_batch(paths, size)
    source = folder.resolve()
    out = {"images": len(paths), "source": source.relative_to(REPO_ROOT.parent).as_posix()
           if source.is_relative_to(REPO_ROOT.parent) else source.as_posix()}
    reference = None
    for key in ("float32", "dynamic", "float16"):
        run = bench_worker.FACTORIES["litert"](str(models[key]), 1)[0]  # LiteRT, one image at a time
        predicted = np.stack([run(row[None]) for row in x]).argmax(1)
        reference = predicted if reference is None else reference
        out[key] = {"size_mb": models[key].stat().st_size / 1e6, "accuracy": float((predicted == truth).mean()),
                    "agreement_with_float32": float((predicted == reference).mean())}
    return out


def installed_size_mb(python_version: str, requirements: list[str], cache: Path) -> float:
    """Size on disk (MB) of ``requirements`` installed for the Lambda platform (x86_64, manylinux up to 2_34) with
    ``pip install --target``, for CPython ``python_version``. Cached in ``cache`` (delete it to measure again)."""
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    key = f"{python_version} {' '.join(requirements)}"
    if key not in known:
        with tempfile.TemporaryDirectory() as target:
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            "--target", target, *lambda_wheels.pip_platform_args("x86_64", python_version),
                            *requirements], check=True, capture_output=True)
            known[key] = sum(p.stat().st_size for p in Path(target).rglob("*") if p.is_file()) / 1e6
        cache.write_text(json.dumps(known, indent=2) + "\n")
    return known[key]


def cost_per_million(results: dict) -> dict:
    """Dollars per million predictions at each memory size, from each variant's warm duration (x86_64, no free tier;
    prices: ``tutorial_support.prices``; duration billed per 1 ms, rounded up).

    A variant's warm duration is its inference p50 plus what the handler spends besides inference (download from
    127.0.0.1, preprocessing, the rest), measured in the handler row; the handler row uses its own total. Single-
    threaded work gets memory / 1,769 MB of a vCPU below 1,769 MB, so its duration is scaled by 1,769 / memory there.
    """
    handler = results.get("Lambda handler (LiteRT)", {})
    pieces = handler.get("pieces_p50_ms", {})
    besides_inference = sum(v for k, v in pieces.items() if k != "inference")
    costs = {}
    for name, result in results.items():
        if "warm_p50_ms" not in result:
            continue
        warm = result["warm_p50_ms"]["median"] + (0 if result["runtime"] == "handler" else besides_inference)
        costs[name] = {"warm_ms": warm}
        for memory in MEMORY_MB:
            duration = prices.scaled_duration_ms(warm, memory)
            costs[name][str(memory)] = prices.lambda_cost(1_000_000, duration, memory)
    return costs


def _fmt(value, unit="", digits=1):
    return f"{value:,.{digits}f}{unit}"


def render_markdown(report: dict) -> str:
    """The Markdown tables of a report (``results.json``): what the README and ``results.md`` show."""
    m, s = report["machine"], report["settings"]
    lines = [f"Measured on {m['cpu']} ({m['cores']} cores), {m['os']}, Python {m['python']}, {m['date']}, with "
             f"`{report['command']}`: {s['runs']} fresh processes per row, up to {s['warm']} warm predictions each "
             "(median over processes; range in brackets). Single-threaded unless the row says otherwise.", "",
             "| runtime | cold start, s | imports + load, s | warm p50, ms | warm p95, ms | peak RSS, MB | "
             "serving install, MB | model, MB | agrees with Keras |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["variants"].items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} | | | | | | | |")
            continue
        cold = r["cold_s"]
        size = r.get("serving_install_mb")
        lines.append(
            f"| {name} | {_fmt(cold['median'], digits=2)} [{_fmt(cold['min'], digits=2)}–{_fmt(cold['max'], digits=2)}]"
            f" | {_fmt(r['imports_s']['median'] + r['load_s']['median'], digits=2)}"
            f" | {_fmt(r['warm_p50_ms']['median'], digits=2)} [{_fmt(r['warm_p50_ms']['min'], digits=2)}–"
            f"{_fmt(r['warm_p50_ms']['max'], digits=2)}] | {_fmt(r['warm_p95_ms']['median'], digits=2)}"
            f" | {_fmt(r['peak_rss_mb']['median'], digits=0)} | {'' if size is None else _fmt(size, digits=0)}"
            f" | {_fmt(report['model_files_mb'][r['model']], digits=2)}"
            f" | {r.get('top1_agreement', float('nan')):.0%} |")
    handler = report["variants"].get("Lambda handler (LiteRT)", {})
    if "pieces_p50_ms" in handler:
        p, o = handler["pieces_p50_ms"], report["handler_overhead"]
        lines += ["", "The handler's warm prediction, split (p50, ms): download from 127.0.0.1 and decoding "
                  f"{p['download']:.2f} (of which JPEG decoding {handler['decode_p50_ms']:.2f}), "
                  f"preprocessing {p['preprocess']:.2f}, inference {p['inference']:.2f}, "
                  f"the rest (event, softmax, response) {p['rest']:.2f}. Without the download (images decoded "
                  f"beforehand), a handler call takes {o['without_download_ms']:.2f} ms against "
                  f"{o['bare_invoke_ms']:.2f} ms for a bare `set_tensor` / `invoke` / `get_tensor` on the same "
                  f"preprocessed input, alternating in one loop: {o['over_bare_pct']:.1f} % overhead."]
    q = report["quantization"]
    lines += ["", f"Post-training quantization (validation accuracy on {q['images']} photos of `{q['source']}`):", "",
              "| TF-Lite model | size, MB | accuracy | same answer as float32 | warm p50, ms |",
              "|---|---|---|---|---|"]
    rows = {"float32": "LiteRT", "dynamic": "LiteRT, dynamic-range", "float16": "LiteRT, float16"}
    for key, name in rows.items():
        r, warm = q[key], report["variants"].get(name, {}).get("warm_p50_ms", {}).get("median", float("nan"))
        lines.append(f"| {key} | {r['size_mb']:.2f} | {r['accuracy']:.3f} | {r['agreement_with_float32']:.1%} "
                     f"| {warm:.2f} |")
    price = report["price"]
    lines += ["", "Cost per million predictions: x86_64, us-east-1, "
              f"${price['per_gb_second_x86_64']:.10f} per GB-second and ${price['per_million_requests']:.2f} per "
              f"million requests, no free tier ({price['source']}):", "",
              "| runtime | warm duration, ms | " + " | ".join(f"{mb:,} MB" for mb in MEMORY_MB) + " |",
              "|---|---|" + "---|" * len(MEMORY_MB)]
    for name, c in report["cost_per_million"].items():
        lines.append(f"| {name} | {c['warm_ms']:.1f} | " + " | ".join(f"${c[str(mb)]:.2f}" for mb in MEMORY_MB) + " |")
    lines += ["", report["price"]["assumption"]]
    return "\n".join(lines) + "\n"


def _log_axis(ax, ticks) -> None:
    """A logarithmic x axis labelled with plain numbers."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log")
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot(report: dict, path: Path) -> None:
    """Cold start (split), warm latency, peak memory and serving size per runtime, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {k: v for k, v in report["variants"].items() if "skipped" not in v}
    names = list(rows)
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.5), sharey=True)
    left = np.zeros(len(names))
    for key, label in [("startup_s", "Python start"), ("imports_s", "imports"), ("load_s", "model load"),
                       ("first_s", "first answer")]:
        values = np.array([rows[n][key]["median"] for n in names])
        axes[0].barh(names, values, left=left, label=label)
        left += values
    axes[0].set_xlabel("cold start, s")
    axes[0].legend(fontsize=8)
    p50 = [rows[n]["warm_p50_ms"]["median"] for n in names]
    p95 = [rows[n]["warm_p95_ms"]["median"] for n in names]
    axes[1].barh(names, p50, xerr=[np.zeros(len(names)), np.subtract(p95, p50)], capsize=3)
    axes[1].set_xlabel("warm latency, ms (p50, bar to p95)")
    _log_axis(axes[1], [1, 2, 5, 10, 20, 50, 100, 200])
    axes[2].barh(names, [rows[n]["peak_rss_mb"]["median"] for n in names])
    axes[2].set_xlabel("peak RSS, MB")
    sizes = [rows[n].get("serving_install_mb") or 0 for n in names]
    axes[3].barh(names, sizes)
    axes[3].set_xlabel("serving install for Lambda, MB")
    if any(sizes):
        _log_axis(axes[3], [50, 100, 200, 500, 1000, 2000])
    axes[0].invert_yaxis()
    fig.suptitle(f"Serving the clothing model: {report['machine']['cpu']}, single-threaded unless named")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per runtime")
    parser.add_argument("--warm", type=int, default=300, help="warm predictions per process (at least 20)")
    parser.add_argument("--max-seconds", type=float, default=20, help="stop a process's warm loop after this long")
    parser.add_argument("--only", nargs="*", default=None, help="measure only these rows (names as in the table)")
    parser.add_argument("--data-dir", type=Path, default=SHARED_VALIDATION if SHARED_VALIDATION.is_dir() else None,
                        help="validation photos for the quantization accuracy (default: ../shared's split, "
                             "else the samples)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where results.json, .md and .png go")
    parser.add_argument("--model-dir", type=Path, default=MODELS_DIR,
                        help="the folder of clothing-model.keras and .tflite to measure (default: models/, the model "
                             "that ships; the handler row serves it through MODEL_PATH)")
    parser.add_argument("--skip-sizes", action="store_true", help="do not install the serving sets to measure them")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: rewrite results.md, .png and the README from --output's results.json")
    args = parser.parse_args(argv)
    if args.model_dir.resolve() != MODELS_DIR.resolve() and args.output.resolve() == OUTPUT.resolve():
        parser.error("--model-dir other than models/ needs an --output of its own: benchmarks/ and the README "
                     "describe the model that ships")
    variants = {k: v for k, v in VARIANTS.items() if args.only is None or k in args.only}
    args.output.mkdir(parents=True, exist_ok=True)
    BENCH.mkdir(exist_ok=True)

    if args.render_only:
        write(derive(json.loads((args.output / "results.json").read_text())), args.output)
        return 0
    with tempfile.TemporaryDirectory() as work:
        models, missing = prepare_models(Path(work), args.model_dir)
        report = {"command": "make bench" if argv is None and len(sys.argv) == 1 else
                  "python benchmarks/bench.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "machine": machine(), "settings": {"runs": args.runs, "warm": args.warm,
                                                     "max_seconds": args.max_seconds},
                  "model_files_mb": {k: p.stat().st_size / 1e6 for k, p in models.items()}}
        size = input_size(models["float32"])  # read once from the model, for both
        report |= measure(variants, models, missing, args.runs, args.warm, args.max_seconds, size)
        report["quantization"] = quantization_accuracy(models, args.data_dir, size)
    agreement(report["variants"], CLASSES)
    report["sizes_mb"] = {} if args.skip_sizes else {
        name: installed_size_mb(version, requirements, BENCH / "sizes.json")
        for name, (version, requirements) in SERVING_SETS.items()}
    write(derive(report), args.output)
    return 0


def derive(report: dict) -> dict:
    """Add what follows from the measurements: each row's serving install size, the handler's overhead over the bare
    interpreter, the cost per million predictions (``tutorial_support.prices``) and its basis."""
    for name, result in report["variants"].items():
        if "skipped" not in result:
            result["serving_install_mb"] = report["sizes_mb"].get(SIZE_OF.get(name, name))
    handler = report["variants"].get("Lambda handler (LiteRT)", {})
    if "pieces_p50_ms" in handler:
        without, bare = handler["without_download_p50_ms"], handler["bare_invoke_p50_ms"]
        report["handler_overhead"] = {"without_download_ms": without, "bare_invoke_ms": bare,
                                      "over_bare_pct": 100 * (without - bare) / without}
    report["cost_per_million"] = cost_per_million(report["variants"])
    report["price"] = {
        "per_gb_second_x86_64": prices.PRICE_PER_GB_SECOND["x86_64"],
        "per_million_requests": prices.PRICE_PER_MILLION_REQUESTS,
        "source": f"aws.amazon.com/lambda/pricing as of {prices.PRICES_AS_OF}, tutorial_support/prices.py",
        "assumption": "Duration scales with memory as CPU share does: single-threaded work measured here on one core "
                      "is taken to get a full vCPU at 1,769 MB and above and memory / 1,769 MB of one below, so its "
                      "duration at 512 MB is 3.5 times the measured one. One core here is not one Lambda vCPU; "
                      "a real download adds its own time, billed too."}
    return report


def write(report: dict, output: Path) -> None:
    """Write results.json, results.md and results.png under ``output``; the README too when it is ``benchmarks/``."""
    output.mkdir(parents=True, exist_ok=True)
    (output / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = render_markdown(report)
    (output / "results.md").write_text(markdown)
    plot(report, output / "results.png")
    if output.resolve() == OUTPUT.resolve() and update_readme(markdown):
        print("Updated the performance section of README.md")
    print(f"Wrote {output / 'results.json'}, results.md and results.png")


if __name__ == "__main__":
    sys.exit(main())
