"""Offline evaluation: figures that need nothing from the internet.

- :mod:`ganzoo.metrics.mixtures` — mode coverage on the 2-D Gaussian mixtures (PacGAN / VEEGAN protocol)
- :mod:`ganzoo.metrics.classifier` — the shipped digit and emoji classifiers (numpy inference of safetensors weights),
  trained by :mod:`ganzoo.metrics.train_classifier`
- :mod:`ganzoo.metrics.features` — Fréchet distance, improved precision/recall, class coverage,
  conditional accuracy in the classifier's features
- :mod:`ganzoo.metrics.stacked` — the Stacked MNIST mode count
- :mod:`ganzoo.metrics.protocols` — which figure scores which data set, its reference samples, and the
  samples every protocol draws
- :mod:`ganzoo.metrics.evaluate` — ``ganzoo eval``: picks the protocol from the data set a generator was
  trained on, for run directories and ONNX files alike
- :mod:`ganzoo.metrics.quick` — the data set's first figure on a small sample, while a run trains
  (``--eval-every``)
- :mod:`ganzoo.metrics.standard` — FID, KID and IS through torch-fidelity (``--metric fid``)
- :mod:`ganzoo.metrics.translation` — image-to-image models: PSNR, SSIM, L1 on held-out pairs beside a
  baseline; digits kept and Fréchet distance per direction on unpaired domains

Nothing here imports torch at module level; only opening a run directory (its generator is a torch
module) and loading the reference data set do.
"""
