"""Measure chapter 08's tabular handler on each backend: installed size for Lambda, cold start, warm latency, peak
memory and cost per million predictions, as ``make bench`` does for the image model.

    make bench-tabular                                      # = python benchmarks/tabular_bench.py, after the set-up
    python benchmarks/tabular_bench.py --runs 2 --warm 200 --output /tmp/tabular   # a quick look

Each backend (``tabular_handler.BACKENDS``) is served from a task root assembled as its Dockerfile assembles it
(``tabular-library.Dockerfile`` with ``BACKEND=sklearn|xgboost``, ``tabular-onnx.Dockerfile`` with
``MODEL=sklearn|xgboost``: the handler, ``features.json`` and the model files it copies) and measured in fresh
processes (``tabular_bench_worker.py``) under Python 3.13 environments that hold only the backend's pinned
requirements (``.bench/tabular-<set>``, made by ``make bench-tabular``): a library that is not in the image is not
imported either (XGBoost imports scikit-learn when it finds it, which would add seconds to its cold start). Requests
are API Gateway payload 2.0 events of the 178 wines of the data set.

The size is that of the requirement set installed for Lambda (CPython 3.13, manylinux x86_64, no bytecode:
``tutorial_support.lambda_wheels.install``) plus the task root's own files, against the limits of
docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: 250 MB unzipped for a .zip package (layers
included), 10 GB for a container image (uncompressed, base image included). Writes ``tabular_results.json`` and
``tabular_results.md`` under ``--output`` (default ``benchmarks/``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tutorial_support import lambda_wheels, prices
from tutorial_support.events import proxy_event
from tutorial_support.paths import BENCHMARKS_DIR, REPO_ROOT, SOLUTIONS
from tutorial_support.task_root import TASK_ROOT, parse
from tutorial_support.timing import machine, spread

HERE = Path(__file__).resolve().parent
BENCH = REPO_ROOT / ".bench"
CHAPTER = SOLUTIONS / "08_explore_more"
WORKER = HERE / "tabular_bench_worker.py"
# backend: (its Dockerfile, the build arguments that select it)
DOCKERFILES = {"sklearn": ("tabular-library.Dockerfile", {"BACKEND": "sklearn"}),
               "xgboost": ("tabular-library.Dockerfile", {"BACKEND": "xgboost"}),
               "sklearn-onnx": ("tabular-onnx.Dockerfile", {"MODEL": "sklearn"}),
               "xgboost-onnx": ("tabular-onnx.Dockerfile", {"MODEL": "xgboost"})}
LIBRARY_OF = {"sklearn-onnx": "sklearn", "xgboost-onnx": "xgboost"}  # an export and the library it must agree with
ZIP_LIMIT_MB = 250  # a .zip deployment package, unzipped, layers included (gettingstarted-limits.html)
IMAGE_LIMIT_MB = 10 * 1024  # a container image, uncompressed, base image included (same page)
MEMORY_MB = (128, 256, 512, 1024)  # Lambda memory sizes the cost table is worked out at (128 MB is Lambda's least)
HEADROOM = 1.5  # a memory size must hold this many times the peak RSS measured here (Lambda's runtime client, the
#                 log buffers and a larger request take some more)


def image(backend: str):
    """The backend's Dockerfile read by ``tutorial_support.task_root.parse``, its ``ARG`` defaults replaced by the
    build arguments of ``DOCKERFILES`` (what ``docker build --build-arg`` does)."""
    name, build_args = DOCKERFILES[backend]
    text = (CHAPTER / name).read_text()
    for key, value in build_args.items():
        text, count = re.subn(rf"^ARG {key}=.*$", f"ARG {key}={value}", text, flags=re.M)
        if count != 1:
            raise ValueError(f"{name} has no ARG {key}=... line to set")
    return parse(text)


def requirements_of(backend: str) -> Path:
    """The requirements file the backend's Dockerfile installs (the source of its COPY to the pip -r path)."""
    spec = image(backend)
    installed = {argv[argv.index("--requirement") + 1] for argv in spec.pip_installs if "--requirement" in argv}
    sources = [sources[0] for sources, destination in spec.copies if destination in installed]
    if len(sources) != 1:
        raise ValueError(f"the Dockerfile of {backend} does not install one requirements file it copies")
    return REPO_ROOT / sources[0]


def assemble_task_root(backend: str, folder: Path) -> dict[str, str]:
    """Copy into ``folder`` what the backend's Dockerfile copies into the task root (``/var/task/``).

    Returns:
        the image's ``ENV`` (``TABULAR_BACKEND``), for the process that runs the handler from ``folder``.
    """
    spec = image(backend)
    folder.mkdir(parents=True, exist_ok=True)
    for sources, destination in spec.copies:
        if destination.rstrip("/") == TASK_ROOT:
            for source in sources:
                shutil.copy2(REPO_ROOT / source, folder / Path(source).name)
    return dict(spec.env)


def installed_size_mb(requirements: list[Path], cache: Path) -> float:
    """Size on disk (MB, 10^6 bytes) of the requirement files ``requirements`` installed together for Lambda (x86_64,
    CPython 3.13, manylinux up to 2_34, no bytecode) with ``pip install --target`` (``lambda_wheels.install``).
    Cached in ``cache`` under the files' hash (delete it to measure again). Needs the package index (pip's cache makes
    a second run cheap)."""
    key = hashlib.sha256(b"".join(path.read_bytes() for path in requirements)).hexdigest()
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    if key not in known:
        with tempfile.TemporaryDirectory() as target:
            more = tuple(arg for path in requirements[1:] for arg in ("--requirement", str(path)))
            lambda_wheels.install(requirements[0], Path(target), extra=more)
            known[key] = sum(p.stat().st_size for p in Path(target).rglob("*") if p.is_file()) / 1e6
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known, indent=2) + "\n")
    return known[key]


def wine_events() -> list[dict]:
    """Payload 2.0 events asking for each of the 178 wines of ``sklearn.datasets.load_wine`` (all inside the valid
    ranges: tests/test_tabular.py checks it), in the data set's order."""
    from sklearn.datasets import load_wine

    return [proxy_event("http-v2", json.dumps({"features": row})) for row in load_wine().data.tolist()]


def run_worker(python: Path, args: dict, timeout_s: float = 300) -> dict:
    """One ``tabular_bench_worker.py`` process; what it measured. Raises RuntimeError when it fails."""
    args = dict(args, t_spawn=time.time())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TABULAR_BACKEND", "TABULAR_MODEL_DIR")}
    # The task root on PYTHONPATH, as Lambda's Python runtime puts LAMBDA_TASK_ROOT there: the worker imports the
    # handler from it like the function does.
    env.update(PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(args["task_root"]))
    done = subprocess.run([str(python), str(WORKER), json.dumps(args)], env=env, capture_output=True, text=True,
                          timeout=timeout_s, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise RuntimeError(f"the {args['backend']} worker failed: {done.stderr.strip().splitlines()[-3:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(backend: str, python: Path, events: list[dict], runs: int, warm: int, max_seconds: float) -> dict:
    """``runs`` fresh processes of ``backend`` under ``python``; each figure as median and range over them."""
    with tempfile.TemporaryDirectory(prefix=f"tabular-{backend}-") as root:
        env = assemble_task_root(backend, Path(root))
        args = {"task_root": root, "backend": env["TABULAR_BACKEND"], "events": events, "warm": warm,
                "max_seconds": max_seconds}
        per_run = [run_worker(python, args) for _ in range(runs)]
        files = {p.name: p.stat().st_size for p in Path(root).iterdir() if p.is_file()}
    summary = {"runs": runs, "warm_n": per_run[0]["warm_ms"]["n"], "python": per_run[0]["python"],
               "task_root_files": files}
    for key in ("startup_s", "imports_s", "load_s", "first_s", "cold_s", "peak_rss_mb"):
        summary[key] = spread([r[key] for r in per_run])
    for key in ("p50", "p99"):
        summary[f"warm_{key}_ms"] = spread([r["warm_ms"][key] for r in per_run])
    summary["answers"] = per_run[-1]["answers"]
    return summary


def billed_ms(warm_ms: float, memory_mb: int) -> int:
    """The billed duration (ms, rounded up) of a request measured at ``warm_ms`` on one core here, at
    ``memory_mb``: single-threaded work gets memory / 1,769 MB of a vCPU below 1,769 MB, so it takes
    1,769 / memory times as long there (``prices.scaled_duration_ms``, the assumption of ``make bench``)."""
    import math

    return math.ceil(prices.scaled_duration_ms(warm_ms, memory_mb))


def costs(result: dict) -> dict:
    """Dollars per million warm predictions at each of ``MEMORY_MB``, from the warm p50 (``prices.lambda_cost``,
    x86_64, no free tier), and whether that memory holds ``HEADROOM`` times the peak RSS."""
    warm = result["warm_p50_ms"]["median"]
    return {str(mb): {"billed_ms": billed_ms(warm, mb),
                      "dollars": prices.lambda_cost(1_000_000, billed_ms(warm, mb), mb),
                      "fits": mb >= HEADROOM * result["peak_rss_mb"]["median"]} for mb in MEMORY_MB}


def choose_memory(cost: dict) -> int | None:
    """The memory size to run a backend at: the cheapest of ``costs`` that fits (the smallest, when two cost the
    same), or None when none fits."""
    fitting = [(c["dollars"], int(mb)) for mb, c in cost.items() if c["fits"]]
    return min(fitting)[1] if fitting else None


def derive(report: dict) -> dict:
    """Add what follows from the measurements: each backend's size against the limits, its agreement with its
    library, its cost per million predictions (``tutorial_support.prices``) and the basis of those figures."""
    answers = {b: r.get("answers") for b, r in report["backends"].items() if "skipped" not in r}
    for backend, result in report["backends"].items():
        size = report["sizes_mb"].get(backend)
        if size is not None:
            result["install_mb"] = size
            result["zip_limit_share"] = size / ZIP_LIMIT_MB
            result["image_limit_share"] = size / IMAGE_LIMIT_MB
        if "skipped" in result:
            continue
        reference = answers.get(LIBRARY_OF.get(backend))
        if reference:
            result["same_class_as_library"] = sum(a == b for a, b in zip(result["answers"], reference)) / len(reference)
        result["cost_per_million"] = costs(result)
        result["chosen_memory_mb"] = choose_memory(result["cost_per_million"])
    report["limits_mb"] = {"zip_unzipped": ZIP_LIMIT_MB, "image": IMAGE_LIMIT_MB,
                           "source": "docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"}
    report["price"] = {
        "per_gb_second_x86_64": prices.PRICE_PER_GB_SECOND["x86_64"],
        "per_million_requests": prices.PRICE_PER_MILLION_REQUESTS, "headroom": HEADROOM,
        "source": f"aws.amazon.com/lambda/pricing as of {prices.PRICES_AS_OF}, tutorial_support/prices.py",
        "assumption": "The warm p50 measured here on one core is the duration at 1,769 MB and above; below, a "
                      "single-threaded request gets memory / 1,769 MB of a vCPU and takes 1,769 / memory times as "
                      "long. Duration is billed per 1 ms, rounded up, so at these durations the $0.20 per million "
                      "requests is most of the bill. A cold start's INIT is billed too (not counted here)."}
    return report


def _fmt(value, digits=1) -> str:
    return f"{value:,.{digits}f}"


def render_markdown(report: dict) -> str:
    """The Markdown tables of a report (``tabular_results.json``): what ``tabular_results.md`` and the chapter show."""
    m, s = report["machine"], report["settings"]
    pythons = sorted({r["python"] for r in report["backends"].values() if "python" in r})
    lines = [f"Measured on {m['cpu']} ({m['cores']} cores), {m['os']}, {m['date']}, with `{report['command']}`: "
             f"{s['runs']} fresh processes per backend under Python {', '.join(pythons) or '-'} (environments "
             f"holding only the backend's requirements: {s['environments']}), up to {s['warm']} warm requests each "
             "(payload 2.0 events of the 178 wines; median over processes, range in brackets). One thread. The last "
             "column compares each ONNX export's answers with its library's.",
             "",
             "| backend | installed for Lambda, MB | of the 250 MB .zip limit | task root files, KB | cold start, s | "
             "imports, s | model load, ms | first answer, ms | warm p50, ms | warm p99, ms | peak RSS, MB | "
             "same class as the library |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for backend, r in report["backends"].items():
        size = r.get("install_mb")
        size_cells = (f"{_fmt(size, 0)} | {r['zip_limit_share']:.0%}" if size is not None else " | ")
        if "skipped" in r:
            lines.append(f"| {backend} | {size_cells} | skipped: {r['skipped']} | | | | | | | | |")
            continue
        cold = r["cold_s"]
        agreement = f"{r['same_class_as_library']:.0%}" if "same_class_as_library" in r else "–"
        lines.append(
            f"| {backend} | {size_cells} | {_fmt(sum(r['task_root_files'].values()) / 1e3, 0)}"
            f" | {_fmt(cold['median'], 2)} [{_fmt(cold['min'], 2)}–{_fmt(cold['max'], 2)}]"
            f" | {_fmt(r['imports_s']['median'], 2)} | {_fmt(r['load_s']['median'] * 1000, 0)}"
            f" | {_fmt(r['first_s']['median'] * 1000, 1)}"
            f" | {_fmt(r['warm_p50_ms']['median'], 3)} [{_fmt(r['warm_p50_ms']['min'], 3)}–"
            f"{_fmt(r['warm_p50_ms']['max'], 3)}] | {_fmt(r['warm_p99_ms']['median'], 3)}"
            f" | {_fmt(r['peak_rss_mb']['median'], 0)} | {agreement} |")
    limits = report["limits_mb"]
    sizes = report["sizes_mb"]
    shares = {name: f"{sizes[name]:,.0f} MB, {sizes[name] / limits['zip_unzipped']:.0%}"
              for name in ("sklearn + xgboost", "sklearn-onnx") if name in sizes}
    lines += ["", f"Every set fits a container image ({limits['image']:,} MB, base image included) many times over. "
              f"Against a .zip package's {limits['zip_unzipped']} MB unzipped (function and layers together), the "
              "library sets leave little room for anything else"
              + (f" (scikit-learn and XGBoost in one package: {shares['sklearn + xgboost']})"
                 if "sklearn + xgboost" in shares else "")
              + (f"; ONNX Runtime's set takes {shares['sklearn-onnx']}" if "sklearn-onnx" in shares else "")
              + f". Sizes are without bytecode (`pip install --target --no-compile`); limits: {limits['source']}.",
              ""]
    price = report["price"]
    lines += [f"Cost per million warm predictions: x86_64, us-east-1, ${price['per_gb_second_x86_64']:.10f} per "
              f"GB-second and ${price['per_million_requests']:.2f} per million requests, no free tier "
              f"({price['source']}); billed duration in brackets; a memory size under {price['headroom']} times the "
              "peak RSS is marked too small, and the one each backend is best run at is in bold:", "",
              "| backend | " + " | ".join(f"{mb:,} MB" for mb in MEMORY_MB) + " |",
              "|---|" + "---|" * len(MEMORY_MB)]
    for backend, r in report["backends"].items():
        if "cost_per_million" not in r:
            continue
        cells = [(f"**${c['dollars']:.3f} ({c['billed_ms']} ms)**" if int(mb) == r["chosen_memory_mb"] else
                  f"${c['dollars']:.3f} ({c['billed_ms']} ms)" + ("" if c["fits"] else ", too small"))
                 for mb, c in r["cost_per_million"].items()]
        lines.append(f"| {backend} | " + " | ".join(cells) + " |")
    lines += ["", price["assumption"]]
    return "\n".join(lines) + "\n"


def environments(python: str | None) -> dict[str, Path]:
    """The Python of each requirement set: ``--python`` for all, else ``.bench/tabular-<set>/bin/python``."""
    sets = {requirements_of(b).stem.removeprefix("tabular-") for b in DOCKERFILES}
    return {name: Path(os.path.abspath(python)) if python else BENCH / f"tabular-{name}" / "bin" / "python"
            for name in sorted(sets)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per backend")
    parser.add_argument("--warm", type=int, default=1000, help="warm requests per process (at least 20)")
    parser.add_argument("--max-seconds", type=float, default=20, help="stop a process's warm loop after this long")
    parser.add_argument("--python", default=None,
                        help="measure every backend under this Python (default: each set's .bench environment)")
    parser.add_argument("--skip-sizes", action="store_true", help="do not install the sets to measure their size")
    parser.add_argument("--output", type=Path, default=BENCHMARKS_DIR, help="where tabular_results.json and .md go")
    parser.add_argument("--render-only", action="store_true", help="rewrite tabular_results.md from the .json")
    args = parser.parse_args(argv)
    if args.render_only:
        report = json.loads((args.output / "tabular_results.json").read_text())
        (args.output / "tabular_results.md").write_text(render_markdown(derive(report)))
        return 0
    events = wine_events()
    pythons = environments(args.python)
    report = {"command": "make bench-tabular" if argv is None and len(sys.argv) == 1 else
              "python benchmarks/tabular_bench.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "machine": machine(),
              "settings": {"runs": args.runs, "warm": args.warm, "max_seconds": args.max_seconds,
                           "environments": "--python " + args.python if args.python else ".bench/tabular-<set>"},
              "backends": {}, "sizes_mb": {}}
    cache = BENCH / "tabular-sizes.json"
    if not args.skip_sizes:  # both libraries in one package too: what one image serving either backend would hold
        both = [requirements_of("sklearn"), requirements_of("xgboost")]
        report["sizes_mb"]["sklearn + xgboost"] = installed_size_mb(both, cache)
    for backend in DOCKERFILES:
        requirements = requirements_of(backend)
        python = pythons[requirements.stem.removeprefix("tabular-")]
        if not args.skip_sizes:
            report["sizes_mb"][backend] = installed_size_mb([requirements], cache)
        if not python.exists():
            report["backends"][backend] = {"skipped": f"{python} is missing (make bench-tabular creates it)"}
            continue
        try:
            report["backends"][backend] = r = measure(backend, python, events, args.runs, args.warm,
                                                      args.max_seconds)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            report["backends"][backend] = {"skipped": str(e)}
            continue
        print(f"{backend:<13} cold {r['cold_s']['median']:5.2f} s   warm p50 {r['warm_p50_ms']['median']:6.3f} ms   "
              f"p99 {r['warm_p99_ms']['median']:6.3f} ms   peak RSS {r['peak_rss_mb']['median']:4.0f} MB", flush=True)
    report = derive(report)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "tabular_results.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.output / "tabular_results.md").write_text(render_markdown(report))
    print(f"Wrote {args.output / 'tabular_results.json'} and tabular_results.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
