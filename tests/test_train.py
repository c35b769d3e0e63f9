"""train.py: augmentation, model builders, and short training runs that write every artifact."""

import json
import shutil

import numpy as np
import pytest
from conftest import SAMPLES_DIR, SHARED_DATA_DIR

pytest.importorskip("tensorflow", reason="training needs TensorFlow (requirements/dev.txt)")
import train  # noqa: E402
from keras_image_helper import create_preprocessor  # noqa: E402
from PIL import Image  # noqa: E402


@pytest.fixture(scope="module")
def photo():
    with Image.open(SAMPLES_DIR / "pants" / "0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg") as img:
        img.load()
        return img.copy()


def test_augment_gives_the_model_input_shape_and_range(photo):
    preprocessor = create_preprocessor("xception", target_size=(96, 96))
    x = train.augment(photo, preprocessor, np.random.default_rng(0))
    assert x.shape == (96, 96, 3) and x.dtype == np.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    again = train.augment(photo, preprocessor, np.random.default_rng(0))
    other = train.augment(photo, preprocessor, np.random.default_rng(1))
    assert np.array_equal(x, again)
    assert not np.array_equal(x, other)


def test_validation_preprocessing_is_the_handlers(photo):
    preprocessor = create_preprocessor("xception", target_size=(128, 128))
    path = SAMPLES_DIR / "pants" / "0257eb81-f3d3-4704-8299-8b6ab20f1ed4.jpg"
    x = train.preprocess_for_serving([path], preprocessor)
    expected = np.asarray(photo.convert("RGB").resize((128, 128), Image.NEAREST), dtype=np.float32) / 127.5 - 1
    np.testing.assert_allclose(x[0], expected, atol=1e-6)


def test_list_images_reports_an_empty_split(tmp_path):
    with pytest.raises(FileNotFoundError):
        train.list_images(tmp_path / "train")


def test_transfer_learning_route_builds_without_downloading():
    model = train.make_transfer_model(96, 10, weights=None)
    assert model.output_shape == (None, 10)
    assert not model.layers[1].trainable


def make_dataset_from_samples(root):
    """A tiny dataset with the real layout (train/ and validation/), from the bundled samples."""
    for split in ("train", "validation"):
        shutil.copytree(SAMPLES_DIR, root / split, ignore=shutil.ignore_patterns("*.md"))
    return root


def check_artifacts(out, n_classes=10):
    import keras

    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["classes"]) == n_classes
    assert 0.0 <= metrics["validation"]["accuracy"] <= 1.0
    assert np.array(metrics["validation"]["confusion_matrix"]).shape == (n_classes, n_classes)
    assert (out / "training-curves.png").stat().st_size > 1000
    assert (out / "labels.txt").read_text().split() == metrics["classes"]
    assert not list(out.glob("*.weights.h5"))
    model = keras.models.load_model(out / "clothing-model.keras", compile=False)
    assert model.output_shape == (None, n_classes)
    return metrics


@pytest.mark.slow
def test_smoke_training_run_on_the_bundled_samples(tmp_path):
    data = make_dataset_from_samples(tmp_path / "data")
    out = tmp_path / "out"
    metrics = train.main(["--model", "compact", "--data-dir", str(data), "--output-dir", str(out), "--epochs", "2",
                          "--size", "64"])
    check_artifacts(out)
    assert metrics["input_size"] == 64 and metrics["train_images"] == 30
    assert metrics["best_epoch"] in (1, 2)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_DATA_DIR.is_dir(), reason=f"the clothing dataset is not at {SHARED_DATA_DIR}")
def test_smoke_training_run_on_the_real_dataset(tmp_path):
    out = tmp_path / "out"
    train.main(["--model", "compact", "--output-dir", str(out), "--epochs", "1", "--limit-per-class", "4",
                "--size", "64"])
    metrics = check_artifacts(out)
    assert metrics["train_images"] == 40
