"""Photos on disk made into the model's input, exactly as training and the Lambda handler preprocess them.

Each file is decoded as the handler decodes a download (``safe_image.decode_image`` of the handler's task root,
``solutions/03_lambda_code/safe_image.py``): the decoder's work bounded, turned upright as its EXIF orientation tag
says, converted to RGB by its mode's meaning, and a JPEG decoded at a reduced scale that stays at least twice the
input size. The preprocessing is then keras-image-helper's ``xception`` preprocessor (the one the handler uses): the
image resized to the model's input size with nearest-neighbour resampling and scaled as ``x / 127.5 - 1``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from tutorial_support.paths import HANDLER_DIR

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def find_images(*folders: Path) -> list[Path]:
    """All image files (``IMAGE_SUFFIXES``, any case) below the given folders, recursively, sorted; a folder that
    does not exist contributes nothing."""
    return sorted(p for folder in folders if folder.is_dir() for p in folder.rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES)


@functools.cache
def _safe_image():
    """The reference handler's own ``safe_image`` module, imported from its task root as Lambda would
    (``lambda_runtime.handler_module``: one task root per process)."""
    from tutorial_support.lambda_runtime import handler_module

    return handler_module(HANDLER_DIR, "safe_image.decode_image")


def read_photo(path: Path, input_size: int | None = None):
    """Decode an image file as the handler decodes a download (``safe_image.read_image``).

    Args:
        path: a JPEG, PNG or WebP file.
        input_size: the model's square input size in pixels: a JPEG is then decoded at a reduced scale that stays at
            least twice this size (the same pixels for the dataset's photos of about 400 px). None: full size.

    Returns:
        a loaded Pillow image in mode ``RGB``, upright as its EXIF orientation tag says.

    Raises:
        OSError: the file cannot be read. ValueError: its bytes are refused (``safe_image.RequestError``, whose
        message says why), for example a GIF.
    """
    safe_image = _safe_image()
    try:
        return safe_image.read_image(path, None if input_size is None else (input_size, input_size))
    except safe_image.RequestError as e:
        raise ValueError(f"{path}: {e.message}") from None


def load_batch(paths: list[Path], input_size: int) -> np.ndarray:
    """Preprocess image files as the Lambda handler does: ``read_photo``, then keras-image-helper's ``xception``
    preprocessor.

    Args:
        paths: image files (JPEG, PNG, WebP).
        input_size: the model's square input size in pixels (``model.input_shape[1]``; 128 here).

    Returns:
        float32 array of shape (len(paths), input_size, input_size, 3), values in [-1, 1].

    Raises:
        OSError: a file cannot be read. ValueError: a file is not an image the handler would accept.
    """
    from keras_image_helper import create_preprocessor

    preprocessor = create_preprocessor("xception", target_size=(input_size, input_size))
    return np.concatenate([preprocessor.convert_to_tensor(read_photo(p, input_size)) for p in paths]).astype(np.float32)
