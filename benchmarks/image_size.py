"""The Lambda image's expected size, from the contents of its layers, beside an image that would carry TensorFlow.

    make image-size        # = python benchmarks/image_size.py; about 3 minutes (it installs TensorFlow)

No Docker engine is needed. The layers this Dockerfile adds are rebuilt without Docker (``task_root.assemble``:
the wheels pip picks for Lambda on x86_64, the model, the handler) and measured on disk (what counts against Lambda's
10 GB image limit) and as gzip-compressed tar streams (about what ECR stores and Lambda pulls). The base image's own
size is the published figure in ``BASE_IMAGE``. The TensorFlow image is the same base, ``tensorflow-cpu`` (the
Keras row of ``make bench``) and the Keras model. Writes ``benchmarks/image_size.json`` and the README's table.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import io
import json
import sys
import tarfile
import tempfile
from pathlib import Path

import bench  # the TensorFlow serving set (bench.SERVING_SETS), beside this script

from tutorial_support import lambda_wheels, task_root
from tutorial_support.paths import BENCHMARKS_DIR, HANDLER_DIR, MODELS_DIR, REPO_ROOT
from tutorial_support.readme import update_readme

OUTPUT = BENCHMARKS_DIR / "image_size.json"
MODELS = MODELS_DIR
# The published size of public.ecr.aws/lambda/python:3.13 (x86_64): the six root-filesystem tarballs its Dockerfile
# ADDs, as published in github.com/aws/aws-lambda-base-images (branch python3.13, x86_64/Dockerfile.python3.13; the
# Git LFS pointers give their sizes, 128,790,988 bytes in all, xz-compressed; arm64: 124,474,204). No uncompressed
# figure is published. Lambda caches the AWS base images' layers, so a cold start pulls only the layers we add.
BASE_IMAGE = {"image": "public.ecr.aws/lambda/python:3.13", "uncompressed_mb": None, "compressed_mb": 128.8,
              "source": "its root-filesystem tarballs (xz) in github.com/aws/aws-lambda-base-images, branch "
                        "python3.13, x86_64; no uncompressed size is published"}


class _Counter(io.RawIOBase):
    def __init__(self):
        self.bytes = 0

    def writable(self):
        return True

    def write(self, data):
        self.bytes += len(data)
        return len(data)


def measure(paths: list[Path], root: Path) -> dict:
    """Size of ``paths`` (files or folders) as a layer: ``{"mb": on disk, "compressed_mb": tar + gzip level 6}``."""
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*"))) if f.is_file()]
    counter = _Counter()
    with gzip.GzipFile(fileobj=counter, mode="wb", compresslevel=6, mtime=0) as stream:
        with tarfile.open(fileobj=stream, mode="w|") as tar:
            for file in files:
                tar.add(file, arcname=str(file.relative_to(root)) if root in file.parents else file.name)
    return {"mb": round(sum(f.stat().st_size for f in files) / 1e6, 1), "compressed_mb": round(counter.bytes / 1e6, 1)}


def layers_of_this_image(work: Path) -> dict:
    """The layers the reference Dockerfile adds, rebuilt without Docker (x86_64) and measured:
    ``{"requirements" | "model" | "handler": {"contents", "mb", "compressed_mb"}}``."""
    image, root = task_root.assemble(task_root.DOCKERFILE, REPO_ROOT, work / "image")
    copied = {Path(source).name for sources, _ in image.copies for source in sources}
    packages = [p for p in root.iterdir() if p.name not in copied]
    return {"requirements": {"contents": "requirements/image.txt", **measure(packages, root)},
            "model": {"contents": "clothing-model.tflite, labels.txt",
                      **measure([root / "clothing-model.tflite", root / "labels.txt"], root)},
            "handler": {"contents": "lambda_function.py", **measure([root / "lambda_function.py"], root)}}


def layers_of_a_tensorflow_image(work: Path) -> dict:
    """The same image serving the Keras model with TensorFlow (``bench.SERVING_SETS``), measured likewise."""
    version, requirements = bench.SERVING_SETS["Keras (TensorFlow)"]
    target = work / "tensorflow"
    lambda_wheels.install(None, target, "x86_64", version, extra=tuple(requirements))
    handler = HANDLER_DIR / "lambda_function.py"
    return {"requirements": {"contents": ", ".join(requirements), **measure([target], target)},
            "model": {"contents": "clothing-model.keras, labels.txt",
                      **measure([MODELS / "clothing-model.keras", MODELS / "labels.txt"], MODELS)},
            "handler": {"contents": "lambda_function.py", **measure([handler], handler.parent)}}


def totals(layers: dict) -> dict:
    """Sum of the layers: ``{"mb", "compressed_mb"}``."""
    return {key: round(sum(layer[key] for layer in layers.values()), 2) for key in ("mb", "compressed_mb")}


def with_base(total: dict, base: dict) -> dict:
    """``total`` plus the base image, where its size is known (else None)."""
    sizes = {"mb": base["uncompressed_mb"], "compressed_mb": base["compressed_mb"]}
    return {key: None if sizes[key] is None else round(total[key] + sizes[key], 1) for key in sizes}


def _fmt(value) -> str:
    return "n/a" if value is None else "< 0.1" if value < 0.1 else f"{value:,.1f}"


def render_markdown(report: dict) -> str:
    """The README's table of both images, per layer: MB on disk and MB compressed."""
    base, ours, theirs = report["base_image"], report["litert"], report["tensorflow"]
    lines = ["| layer | this image (LiteRT): MB on disk | MB compressed | with TensorFlow: MB on disk | "
             "MB compressed |", "|---|---|---|---|---|",
             f"| base image `{base['image']}` | {_fmt(base['uncompressed_mb'])} | {_fmt(base['compressed_mb'])} | "
             f"{_fmt(base['uncompressed_mb'])} | {_fmt(base['compressed_mb'])} |"]
    for name, a in ours["layers"].items():
        b = theirs["layers"][name]
        lines.append(f"| {name} | {_fmt(a['mb'])} | {_fmt(a['compressed_mb'])} | {_fmt(b['mb'])} | "
                     f"{_fmt(b['compressed_mb'])} |")
    a, b = ours["total"], theirs["total"]
    lines.append(f"| **layers added** | **{_fmt(a['mb'])}** | **{_fmt(a['compressed_mb'])}** | **{_fmt(b['mb'])}** | "
                 f"**{_fmt(b['compressed_mb'])}** |")
    a, b = with_base(a, base), with_base(b, base)
    lines.append(f"| **whole image** | **{_fmt(a['mb'])}** | **{_fmt(a['compressed_mb'])}** | **{_fmt(b['mb'])}** | "
                 f"**{_fmt(b['compressed_mb'])}** |")
    contents = "; ".join(f"{name}: {layer['contents']}" for name, layer in ours["layers"].items())
    tf_contents = "; ".join(f"{name}: {layer['contents']}" for name, layer in theirs["layers"].items())
    lines += ["", f"Layers of this image: {contents}. With TensorFlow: {tf_contents}. Our layers are measured by "
              f"`make image-size` ({report['date']}, x86_64 wheels for CPython 3.13) on disk and as gzip-compressed "
              f"tar streams (about what ECR stores); base image: {base['source']}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--render-only", action="store_true", help="rewrite the README table from the JSON")
    args = parser.parse_args(argv)
    if args.render_only:
        report = json.loads(args.output.read_text())
        report["base_image"] = BASE_IMAGE
    else:
        with tempfile.TemporaryDirectory() as tmp:
            litert, tensorflow = layers_of_this_image(Path(tmp)), layers_of_a_tensorflow_image(Path(tmp))
        report = {"date": datetime.date.today().isoformat(), "base_image": BASE_IMAGE,
                  "litert": {"layers": litert, "total": totals(litert)},
                  "tensorflow": {"layers": tensorflow, "total": totals(tensorflow)}}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    markdown = render_markdown(report)
    print(markdown)
    if args.output.resolve() == OUTPUT.resolve() and update_readme(markdown, marker="image-size"):
        print("README.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
