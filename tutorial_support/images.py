"""Photos on disk made into the model's input, exactly as training and the Lambda handler preprocess them.

The preprocessing is keras-image-helper's ``xception`` preprocessor (the one the handler uses): the image resized to
the model's input size with nearest-neighbour resampling, RGB, and scaled as ``x / 127.5 - 1``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def find_images(*folders: Path) -> list[Path]:
    """All image files (``IMAGE_SUFFIXES``, any case) below the given folders, recursively, sorted; a folder that
    does not exist contributes nothing."""
    return sorted(p for folder in folders if folder.is_dir() for p in folder.rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES)


def load_batch(paths: list[Path], input_size: int) -> np.ndarray:
    """Preprocess image files as the Lambda handler does.

    Args:
        paths: image files (JPEG, PNG).
        input_size: the model's square input size in pixels (``model.input_shape[1]``; 128 here).

    Returns:
        float32 array of shape (len(paths), input_size, input_size, 3), values in [-1, 1].

    Raises:
        OSError: a file cannot be read as an image.
    """
    from keras_image_helper import create_preprocessor

    preprocessor = create_preprocessor("xception", target_size=(input_size, input_size))
    return np.concatenate([preprocessor.from_path(str(p)) for p in paths]).astype(np.float32)
