"""ONNX export and the torch-free runtime.

Two halves that never meet at import time:

- :mod:`ganzoo.onnx.export` (torch side): turns a run directory or a generator into a
  verified, self-describing ``.onnx`` file (``ganzoo export RUN_DIR --onnx``).
- :mod:`ganzoo.onnx.runtime` (numpy + onnxruntime + Pillow only): loads such a file and
  samples from it (``ganzoo generate MODEL.onnx``), on machines without torch.

Both open their onnxruntime sessions through :mod:`ganzoo.onnx.session` (torch-free).

This package module imports neither, so ``import ganzoo.onnx.runtime`` stays free of torch.
"""

#: Metadata keys every ganzoo ONNX file carries (exports/README.md lists them).
METADATA_KEYS = (
    "ganzoo.model",
    "ganzoo.version",
    "ganzoo.latent_dim",
    "ganzoo.num_classes",
    "ganzoo.output_shape",
    "ganzoo.output_range",
    "ganzoo.dataset",
    "ganzoo.steps",
    "ganzoo.weights",
)

#: Graph input and output names of the I/O contract; ``truncation`` (float32 [1]) only in files
#: of generators that truncate their own latent space (``ganzoo.truncation`` = "w").
Z, LABELS, IMAGES, TRUNCATION = "z", "labels", "images", "truncation"
#: The input of an image-to-image export (``ganzoo.task`` = "translate"): float32 images
#: [batch, C, height, width] in [-1, 1]; its output is ``images``.
SOURCE = "source"
