"""One benchmark process: load one runtime and one model, answer once (cold start), then time warm predictions.

Run by ``bench.py`` in a fresh process per measurement, under the Python environment of the runtime measured
(the legacy ``tflite-runtime`` needs its own, with numpy < 2), so it imports only the standard library and numpy
before the part it times. Its one argument is a JSON object:

    {"runtime": "litert", "model": "path", "inputs": "inputs.npy", "threads": 1, "warm": 300, "max_seconds": 20,
     "t_spawn": <time.time() just before the parent started this process>, "urls": [...]}

It prints one JSON line (seconds and milliseconds as named; peak RSS in MB, from /proc/self/status).
"""

import json
import os
import resource
import sys
import time

T_READY = time.time()  # the interpreter is up and the standard library imported: the process's start-up ends here


def _litert_like(import_interpreter):
    """A factory for interpreters with the TF-Lite Interpreter API (LiteRT, tflite_runtime, tf.lite)."""

    def factory(model, threads):
        start = time.perf_counter()
        interpreter_class = import_interpreter()
        imported = time.perf_counter()
        interpreter = interpreter_class(model_path=model, num_threads=threads)
        interpreter.allocate_tensors()
        input_index = interpreter.get_input_details()[0]["index"]
        output_index = interpreter.get_output_details()[0]["index"]

        def run(x):
            interpreter.set_tensor(input_index, x)
            interpreter.invoke()
            return interpreter.get_tensor(output_index)[0]

        return run, imported - start, time.perf_counter() - imported

    return factory


def _import_litert():
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter


def _import_tflite_runtime():
    from tflite_runtime.interpreter import Interpreter

    return Interpreter


def _import_tf_lite():
    import tensorflow as tf

    return tf.lite.Interpreter


def keras_factory(model, threads):
    """Keras 3 on TensorFlow, the model called directly (``model(x, training=False)``, faster than ``predict``)."""
    start = time.perf_counter()
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    imported = time.perf_counter()
    net = keras.models.load_model(model, compile=False)

    def run(x):
        return net(x, training=False).numpy()[0]

    return run, imported - start, time.perf_counter() - imported


def onnxruntime_factory(model, threads):
    """ONNX Runtime's CPU execution provider on the model exported by Keras with tf2onnx."""
    start = time.perf_counter()
    import onnxruntime as ort

    imported = time.perf_counter()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x):
        return session.run(None, {name: x})[0][0]

    return run, imported - start, time.perf_counter() - imported


FACTORIES = {
    "keras": keras_factory,
    "tf-lite": _litert_like(_import_tf_lite),
    "litert": _litert_like(_import_litert),
    "tflite-runtime": _litert_like(_import_tflite_runtime),
    "onnxruntime": onnxruntime_factory,
}


def bench_runtime(args, np):
    """Cold start and warm inference of one runtime on preprocessed inputs (no download, no preprocessing)."""
    x = np.load(args["inputs"])
    run, import_s, load_s = FACTORIES[args["runtime"]](args["model"], args["threads"])
    first = time.perf_counter()
    run(x[:1])
    first_s = time.perf_counter() - first
    answered = time.time()
    warm = []
    deadline = time.perf_counter() + args["max_seconds"]
    while len(warm) < args["warm"] and (len(warm) < 20 or time.perf_counter() < deadline):
        row = x[len(warm) % len(x)][None]
        t = time.perf_counter()
        run(row)
        warm.append((time.perf_counter() - t) * 1000)
    logits = [run(row[None]).astype(float).tolist() for row in x]
    return {"imports_s": import_s, "load_s": load_s, "first_s": first_s, "cold_s": answered - args["t_spawn"],
            "warm_ms": _summary(warm), "logits": logits}


def _summary(times_ms):
    """Count, median, 95th percentile and mean of a list of milliseconds (numpy's linear interpolation, as
    ``tutorial_support.timing.percentile``, which the other environments of ``make bench`` cannot import)."""
    import numpy as np

    p50, p95 = np.percentile(times_ms, [50, 95])
    return {"n": len(times_ms), "p50": float(p50), "p95": float(p95), "mean": sum(times_ms) / len(times_ms)}


def bench_handler(args, np):
    """The Lambda handler (``lambda_function``) as Lambda runs it: imports, module load, then handler calls with
    payload 2.0 events for images served on 127.0.0.1. Each warm call is split into download, preprocessing,
    inference and the rest (event parsing, softmax, the response), by timing the handler's own functions."""
    from tutorial_support.lambda_runtime import handler_module  # the main environment only: it has the project

    start = time.perf_counter()
    import ai_edge_litert.interpreter  # noqa: F401  (the imports the module will make, timed apart from its load)
    import keras_image_helper  # noqa: F401
    import PIL.Image  # noqa: F401

    imported = time.perf_counter()
    os.environ["MODEL_PATH"] = args["model"]  # the model measured (the handler reads MODEL_PATH at import)
    handler = handler_module(args["handler_dir"])  # import lambda_function from its task root, as Lambda does

    loaded = time.perf_counter()
    event_template = json.loads(args["event"])

    def event(url):
        return dict(event_template, body=json.dumps({"url": url}), isBase64Encoded=False)

    first = time.perf_counter()
    response = handler.lambda_handler(event(args["urls"][0]), None)
    first_s = time.perf_counter() - first
    answered = time.time()
    assert response["statusCode"] == 200, response

    pieces = {"download": [], "preprocess": [], "inference": []}

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                pieces[name].append((time.perf_counter() - t) * 1000)
        return wrapper

    invoke, download = handler.interpreter.invoke, handler.download_image
    to_tensor = handler.preprocessor.convert_to_tensor
    handler.download_image = timed("download", download)
    handler.preprocessor.convert_to_tensor = timed("preprocess", to_tensor)
    handler.interpreter.invoke = timed("inference", invoke)
    total, answers = [], {}
    deadline = time.perf_counter() + args["max_seconds"]
    # at least one call per photo, so that every photo has its answer (compared with Keras), however few --warm asks
    calls = max(args["warm"], len(args["urls"]))
    while len(total) < calls and (len(total) < max(20, len(args["urls"])) or time.perf_counter() < deadline):
        url = args["urls"][len(total) % len(args["urls"])]
        request = event(url)
        t = time.perf_counter()
        response = handler.lambda_handler(request, None)
        total.append((time.perf_counter() - t) * 1000)
        answers[url] = json.loads(response["body"])["top_class"]
    rest = [t - sum(p[i] for p in pieces.values()) for i, t in enumerate(total)]
    pieces_ms = {name: _summary(values) for name, values in pieces.items()} | {"rest": _summary(rest)}

    # The handler without the download: each URL's image decoded once beforehand, so a call is preprocessing,
    # inference and the handler's own work; against the bare interpreter on the same preprocessed input
    # (set_tensor, invoke, get_tensor). The two alternate in one loop, so both see the same machine state.
    import urllib.request

    decoded, decode = {}, []
    for url in args["urls"]:
        with urllib.request.urlopen(url) as response:
            data = response.read()
        t = time.perf_counter()  # decoding as the handler decodes a download: checks, draft, EXIF, RGB
        handler.safe_download.decode_image(data, handler.preprocessor.target_size)
        decode.append((time.perf_counter() - t) * 1000)
        decoded[url] = download(url)
    handler.download_image = decoded.__getitem__
    handler.preprocessor.convert_to_tensor = to_tensor
    handler.interpreter.invoke = invoke
    x = np.load(args["inputs"])
    offline, bare = [], []
    for i in range(len(total)):
        request = event(args["urls"][i % len(args["urls"])])
        t = time.perf_counter()
        handler.lambda_handler(request, None)
        offline.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        handler.interpreter.set_tensor(handler.INPUT_INDEX, x[i % len(x)][None])
        invoke()
        handler.interpreter.get_tensor(handler.OUTPUT_INDEX)
        bare.append((time.perf_counter() - t) * 1000)
    return {"imports_s": imported - start, "load_s": loaded - imported, "first_s": first_s,
            "cold_s": answered - args["t_spawn"], "warm_ms": _summary(total), "pieces_ms": pieces_ms,
            "decode_ms": _summary(decode), "without_download_ms": _summary(offline),
            "bare_invoke_ms": _summary(bare), "answers": [answers[url] for url in args["urls"]]}


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MB: VmHWM from /proc (getrusage's ru_maxrss survives exec, so a
    process started by a big parent would report the parent's peak)."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    args = json.loads(sys.argv[1])
    start = time.perf_counter()
    import numpy as np

    numpy_s = time.perf_counter() - start
    result = bench_handler(args, np) if args["runtime"] == "handler" else bench_runtime(args, np)
    result["imports_s"] += numpy_s  # numpy is imported by every runtime: counted with the imports
    result["startup_s"] = T_READY - args["t_spawn"]
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
