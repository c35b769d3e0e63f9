"""One process of ``make bench-tabular``: the tabular handler imported from its task root as Lambda imports it, one
answer (the cold start), then warm requests, as a fresh Lambda execution environment would serve them.

Run by ``tabular_bench.py`` under the Python environment of the backend measured (``.bench/tabular-<set>``: only the
backend's requirements, on Python 3.13), so it imports only the standard library before the part it times. Its one
argument is a JSON object:

    {"task_root": "folder with tabular_handler.py and the model files", "backend": "sklearn", "events": [...],
     "warm": 1000, "max_seconds": 20, "t_spawn": <time.time() just before the parent started this process>}

It prints one JSON line: seconds and milliseconds as named, peak RSS in MB (VmHWM), and the class answered for each
event. What the handler logs (one line a request, as on Lambda) is written, then thrown away (/dev/null).
"""

import importlib
import json
import os
import sys
import time

T_READY = time.time()  # the interpreter is up and the standard library imported: the process's start-up ends here
LIBRARIES = {"sklearn": ("numpy", "joblib", "sklearn.linear_model", "sklearn.pipeline", "sklearn.preprocessing"),
             "xgboost": ("numpy", "xgboost"), "sklearn-onnx": ("numpy", "onnxruntime"),
             "xgboost-onnx": ("numpy", "onnxruntime")}


def percentiles(times_ms: list) -> dict:
    """Count, median, 99th percentile and mean of a list of milliseconds (linear interpolation between closest
    ranks, as ``numpy.percentile`` and ``tutorial_support.timing.percentile``, which this environment lacks)."""
    ordered = sorted(times_ms)

    def at(q):
        position = (len(ordered) - 1) * q / 100
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    return {"n": len(ordered), "p50": at(50), "p99": at(99), "mean": sum(ordered) / len(ordered)}


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MB (VmHWM from /proc/self/status)."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 1024


def main() -> None:
    args = json.loads(sys.argv[1])
    results = os.fdopen(os.dup(1), "w")  # our one line goes here; fd 1 (the handler's log) goes to /dev/null
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.environ["TABULAR_BACKEND"] = args["backend"]
    start = time.perf_counter()
    for name in LIBRARIES[args["backend"]]:  # the imports the handler will make, timed apart from its own load
        importlib.import_module(name)
    imported = time.perf_counter()
    # from the task root, on PYTHONPATH as in Lambda (tabular_bench.run_worker sets it); the model loads here
    import tabular_handler

    loaded = time.perf_counter()
    events = args["events"]
    first = time.perf_counter()
    response = tabular_handler.lambda_handler(events[0], None)
    first_s = time.perf_counter() - first
    answered = time.time()
    if response.get("statusCode") != 200:
        raise SystemExit(f"the first request was answered {response}")
    warm, answers = [], {}
    deadline = time.perf_counter() + args["max_seconds"]
    while len(warm) < args["warm"] and (len(warm) < 20 or time.perf_counter() < deadline):
        index = len(warm) % len(events)
        t = time.perf_counter()
        response = tabular_handler.lambda_handler(events[index], None)
        warm.append((time.perf_counter() - t) * 1000)
        answers[index] = json.loads(response["body"]).get("top_class")
    sys.stdout.flush()
    results.write(json.dumps({
        "startup_s": T_READY - args["t_spawn"], "imports_s": imported - start, "load_s": loaded - imported,
        "first_s": first_s, "cold_s": answered - args["t_spawn"], "warm_ms": percentiles(warm),
        "peak_rss_mb": peak_rss_mb(), "answers": [answers.get(i) for i in range(len(events))],
        "python": sys.version.split()[0]}) + "\n")
    results.flush()


if __name__ == "__main__":
    main()
