"""EfficientNet-Lite0 transfer learning: the Keras port's parity with the PyTorch reference, the training route, and
the handler serving the result unchanged.

The ImageNet weights (models/efficientnet-lite0/imagenet-weights.npz, 19 MB, not committed) are made by
``make efficientnet-weights`` in an environment of its own (.venv-torch); tests that need them are skipped, with that
reason, where they have not been made. The reference logits they are checked against are committed.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import SAMPLES_DIR

from tutorial_support.paths import SOLUTIONS

pytest.importorskip("tensorflow", reason="the Keras model needs TensorFlow (requirements/dev.txt)")
import efficientnet_lite  # noqa: E402
from export_efficientnet_weights import REFERENCE_FILE, REPO_ROOT, WEIGHTS_FILE, photo_pixels  # noqa: E402

# The Keras port's logits agree with PyTorch's to 1.3e-5 here (float32 round-off through 16 blocks, different
# convolution kernels); the committed reference is rounded to 1e-5. 1e-3 leaves a hundredfold margin for other CPUs
# and oneDNN settings, yet a wrong weight layout, a missing layer or a wrong input normalisation moves logits by
# 0.1 to 10 (checked: feeding the torchvision ImageNet normalisation instead moves them by more than 1).
TOLERANCE = 1e-3
needs_weights = pytest.mark.skipif(not WEIGHTS_FILE.is_file(), reason="models/efficientnet-lite0/imagenet-weights.npz "
                                   "not made: run make efficientnet-weights (PyTorch, in .venv-torch)")
COMPACT_DIR = REPO_ROOT / "models" / "compact"  # the model trained from scratch, which shipped before


@pytest.fixture(scope="module")
def reference():
    return json.loads(REFERENCE_FILE.read_text())


@pytest.fixture(scope="module")
def imagenet_model():
    return efficientnet_lite.imagenet_classifier()


def handler_input(reference) -> np.ndarray:
    """The reference photos' pixels as the handler scales them (x / 127.5 - 1): float32 (n, 224, 224, 3)."""
    return np.stack([photo_pixels(REPO_ROOT / p["path"]) for p in reference["photos"]]).astype(np.float32) / 127.5 - 1


def test_reference_covers_every_sample_photo(reference):
    photos = {p["path"] for p in reference["photos"]}
    assert photos == {str(p.relative_to(REPO_ROOT)) for p in SAMPLES_DIR.rglob("*.jpg")}
    assert all(len(p["logits"]) == 1000 for p in reference["photos"])


@needs_weights
def test_keras_port_gives_the_pytorch_reference_logits(reference, imagenet_model):
    logits = imagenet_model.predict(handler_input(reference), verbose=0)
    expected = np.array([p["logits"] for p in reference["photos"]])
    assert np.abs(logits - expected).max() < TOLERANCE
    assert [list(np.argsort(-row)[:5]) for row in logits] == [p["top5"] for p in reference["photos"]]


@needs_weights
def test_the_normalisation_inside_the_model_matters(reference, imagenet_model):
    """The same check fails when the input is scaled as torchvision's ImageNet normalisation would: the tolerance is
    tight enough to catch the wrong preprocessing."""
    pixels = (handler_input(reference) + 1) * 127.5
    wrong = (pixels / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    logits = imagenet_model.predict((wrong * 128 + 127) / 127.5 - 1, verbose=0)  # undo the model's own scaling
    assert np.abs(logits - np.array([p["logits"] for p in reference["photos"]])).max() > 100 * TOLERANCE


def test_keras_port_matches_pytorch_directly(reference):
    """Both models side by side, where PyTorch and the two packages are importable (not in the tutorial's
    environment: PyTorch stays in .venv-torch)."""
    pytest.importorskip("torch", reason="PyTorch is only in .venv-torch (make efficientnet-weights)")
    pytest.importorskip("efficientnet_lite_pytorch", reason="efficientnet-lite-pytorch is only in .venv-torch")
    import export_efficientnet_weights as export

    model, _ = export.reference_model()
    pixels = np.stack([photo_pixels(REPO_ROOT / p["path"]) for p in reference["photos"]])
    torch_logits = export.torch_logits(model, pixels)
    keras_logits = efficientnet_lite.imagenet_classifier().predict(pixels / 127.5 - 1, verbose=0)
    assert np.abs(keras_logits - torch_logits).max() < TOLERANCE


def test_missing_weights_say_how_to_make_them(tmp_path):
    model = efficientnet_lite.build_backbone(64)
    with pytest.raises(efficientnet_lite.WeightsMissingError, match="make efficientnet-weights"):
        efficientnet_lite.load_imagenet_weights(model, tmp_path / "absent.npz")


def test_weights_of_another_shape_are_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{"_conv_stem.weight": np.zeros((16, 3, 3, 3), np.float32)})
    with pytest.raises(ValueError, match="not EfficientNet-Lite0's"):
        efficientnet_lite.load_imagenet_weights(efficientnet_lite.build_backbone(64), bad)


def test_fine_tuning_unfreezes_only_the_last_blocks_and_never_batch_norm():
    backbone = efficientnet_lite.build_backbone(64)
    tuned = efficientnet_lite.set_trainable_from(backbone, 12)
    trainable = {layer.name for layer in backbone.layers if layer.trainable and layer.weights}
    assert "block12_expand_conv" in trainable and "head_conv" in trainable
    assert "block11_project_conv" not in trainable and "stem_conv" not in trainable
    assert not any(name.endswith("_bn") for name in trainable)
    assert 0 < tuned < backbone.count_params()


@needs_weights
def test_transfer_route_trains_for_one_step_and_writes_every_artifact(tmp_path):
    import train
    from test_train import check_artifacts, make_dataset_from_samples

    data = make_dataset_from_samples(tmp_path / "data")
    out = tmp_path / "out"
    metrics = train.main(["--model", "efficientnet-lite0", "--data-dir", str(data), "--output-dir", str(out),
                          "--epochs", "1", "--views", "2", "--fine-tune-epochs", "1", "--steps-per-epoch", "1",
                          "--size", "96"])
    check_artifacts(out)
    assert metrics["input_size"] == 96 and metrics["epochs"] == 2
    assert metrics["transfer"]["views"] == 2 and len(metrics["history"]["val_accuracy"]) == 2


@pytest.mark.parametrize("model_dir, size", [
    pytest.param(REPO_ROOT / "models", 224, id="efficientnet-lite0 (ships)"),
    pytest.param(COMPACT_DIR, 128, id="compact", marks=pytest.mark.skipif(
        not (COMPACT_DIR / "clothing-model.tflite").is_file(),
        reason="models/compact/clothing-model.tflite not made: make train MODEL=compact, then make convert "
               "MODEL=compact")),
])
def test_handler_serves_either_model_at_its_own_input_size(image_host, model_dir, size):
    url = f"{image_host}/samples/pants/081b5ec1-13a6-43c8-991f-9ad2020f646a.jpg"
    script = ("import json, sys, lambda_function as h; "
              "print(json.dumps([int(h.INPUT_HEIGHT), h.lambda_handler({'url': sys.argv[1]}, None)]))")
    done = subprocess.run([sys.executable, "-c", script, url], cwd=SOLUTIONS / "03_lambda_code",
                          env=dict(os.environ, MODEL_PATH=str(model_dir / "clothing-model.tflite")),
                          capture_output=True, text=True, timeout=120)
    size_read, answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert size_read == size
    assert answer["top_class"] == "pants"
    assert abs(sum(answer["probabilities"].values()) - 1) < 1e-6
