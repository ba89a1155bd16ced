"""The Python API: ``ganzoo.train``, ``ganzoo.load``, ``ganzoo.create_model``, ``ganzoo.export``,
:class:`Run` and :class:`Generator` (docs/api.md).

The CLI is a thin layer over the engine, but the engine's functions (``resolve``, ``train``,
``load_generator``, ``export_run``) are internal and change shape as the loop grows; these are
the few front doors a notebook or a script can rely on, under the same versioning promise as
the plugin API (``ganzoo.PLUGIN_API_VERSION``).

Importing this module imports no torch: the engine, the exporter and the metrics are imported
inside the functions that need them, and loading an ``.onnx`` file goes through the torch-free
runtime alone, so ``ganzoo.load("g.onnx").sample(8)`` works on the base install. Every bad
input is one :class:`~ganzoo.errors.GanzooError` line, as on the command line; the messages
name options as the CLI spells them (``--batch-size`` is ``batch_size=`` here).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import json
import numbers
import os
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ganzoo.errors import GanzooError, io_error

if TYPE_CHECKING:
    from torch import nn

PathLike = str | os.PathLike[str]

#: What each torch-side entry point imports, so that a base install says what to install in one
#: line instead of failing inside an import.
_NEEDS = {
    "train": ("torch", "safetensors", "matplotlib"),
    "load": ("torch", "safetensors"),
    "create_model": ("torch",),
    "export": ("torch", "safetensors", "onnx"),
    "eval": ("torch", "safetensors", "sklearn"),
}

#: Samples per generator call on the PyTorch side: one chunk's activations are held, not n's
#: (the number ``ganzoo sample`` uses, so both draw alike).
TORCH_CHUNK = 1024

#: TrainConfig fields that ``train`` does not take as options: the model is its first argument and
#: the model's own objective terms come from its spec (``reg=`` retunes them).
_NOT_OPTIONS = frozenset({"model", "terms"})


def _need(what: str) -> None:
    """Torch-side calls on a base install: one line naming the extra, before any import fails."""
    missing = [m for m in _NEEDS[what] if not _installed(m)]
    if missing:
        raise GanzooError(f"ganzoo.{what} needs PyTorch and the training packages ({', '.join(missing)} not "
                          "installed): pip install 'ganzoo-onnx[train]'; an exported .onnx file needs none of them "
                          "(ganzoo.load('file.onnx'))")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or an import hook that refuses it
        return False


# -- training ------------------------------------------------------------------------------------
def _option_types() -> dict[str, Any]:
    from ganzoo.engine.config import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(TrainConfig) if f.name not in _NOT_OPTIONS}


def _type_words(hint: Any) -> str:
    words = {int: "an integer", float: "a number", bool: "True or False", str: "a string"}
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is list:
        return "a list of strings"
    if origin is tuple:
        return f"a pair of numbers like {(0.5, 0.999)}"
    if origin is dict:
        return "a dict of model options"
    if args:  # X | None
        return words.get(args[0], str(args[0])) + " or None"
    return words.get(hint, str(hint))


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if args and type(None) in args:
        return value is None or any(_fits(value, a) for a in args if a is not type(None))
    if origin is list:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    if origin is tuple:
        return (isinstance(value, (list, tuple)) and len(value) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
    if origin is dict:
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if hint is float:
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if hint is str:
        return isinstance(value, str)
    return True


def _train_options(options: dict[str, Any]) -> dict[str, Any]:
    """The keyword options of :func:`train` as the engine takes them: names and types checked
    (a misspelt name would otherwise be a TypeError from a dataclass), paths as strings, ``reg``
    as the CLI's ``--reg`` (a string or a list; ``"none"`` drops the model's defaults)."""
    types = _option_types()
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name not in types:
            close = difflib.get_close_matches(name, list(types), n=1)
            hint = f" (did you mean {close[0]}=?)" if close else ""
            raise GanzooError(f"ganzoo.train has no option {name}={hint}; its options are the train command's, "
                              f"by their config names: {', '.join(sorted(types))}")
        if name in ("out", "data_dir") and isinstance(value, os.PathLike):
            value = os.fspath(value)
        if name == "reg" and isinstance(value, str):
            value = [value]
        if value is not None and not _fits(value, types[name]):
            raise GanzooError(f"ganzoo.train option {name}= takes {_type_words(types[name])}, got {value!r:.60}")
        if name == "reg" and value is not None:
            regs = list(value)
            value = [r for r in regs if r != "none"] if "none" in regs else regs
        elif name == "betas" and value is not None:
            value = (float(value[0]), float(value[1]))
        elif name == "options" and value is not None:
            value = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
        elif isinstance(value, np.generic):  # numpy scalars, as config.json's JSON takes them
            value = value.item()
        if types[name] is float and value is not None:
            value = float(value)  # lr_g=1 is written as 1.0, as the CLI writes it
        out[name] = value
    return out


def train(model: str | None = None, *, resume: PathLike | Run | None = None, quiet: bool = True,
          **options: Any) -> Run:
    """Train ``model`` (or continue the run ``resume``) and return its :class:`Run`.

    ``options`` are the ``ganzoo train`` options by their config names: ``dataset``, ``steps``,
    ``batch_size``, ``lr_g``, ``loss``, ``reg=["r1:10@16"]``, ``options={"width": 16}`` (``--set``),
    ``out``, ``seed``, ``device``, ... ; every one defaults to the model's spec. ``out`` defaults to
    ``runs/MODEL-TIMESTAMP`` in the current folder. ``quiet`` (the default here, unlike the CLI)
    hides the progress bar and the notes, which a notebook would print line by line. With
    ``resume``, only ``steps`` and how the run reports may change, as with ``--resume``.
    Ctrl-C saves a checkpoint and raises KeyboardInterrupt naming the run to resume."""
    _need("train")
    from ganzoo.engine.config import resolve, resume_config
    from ganzoo.registry import get_registry

    opts = _train_options(options)
    registry = get_registry()
    if resume is not None:
        where = _run_path(resume, "train")
        cfg = resume_config(str(where), model, registry, echo=None if quiet else _stderr, **opts)
    else:
        if not model:
            raise GanzooError("ganzoo.train needs a model name, e.g. ganzoo.train('vanilla') (or resume=RUN_DIR)")
        if not isinstance(model, str):
            raise GanzooError(f"ganzoo.train takes the model's name as a string, got {type(model).__name__}")
        cfg = resolve(model, registry, **opts)
    from ganzoo.engine.train import Interrupted
    from ganzoo.engine.train import train as run_loop

    try:
        result = run_loop(cfg, resume=resume is not None, quiet=quiet, registry=registry,
                          echo=(lambda _: None) if quiet else _stderr)
    except Interrupted as stop:
        raise KeyboardInterrupt(f"interrupted at step {stop.step}; checkpoint saved in {stop.run_dir}; continue "
                                f"with ganzoo.train(resume={str(stop.run_dir)!r}, steps={cfg.steps})") from None
    return Run(result.run_dir)


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr)


# -- a run folder --------------------------------------------------------------------------------
class Run:
    """A run folder (``runs/MODEL-TIMESTAMP``): what :func:`train` returns, and how to open one
    trained earlier or elsewhere (``ganzoo.Run("runs/cgan-...")``); its config.json is checked
    when it is opened, so a folder that is no run fails here, in one line."""

    def __init__(self, path: PathLike) -> None:
        from ganzoo import schema

        self.path = _run_path(path, "Run")
        schema.read_run_config(self.path)

    def __repr__(self) -> str:
        return f"<ganzoo.Run {str(self.path)!r} model={self.model!r}>"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def config(self) -> dict[str, Any]:
        """config.json: the resolved options the run started with (a resume does not rewrite it)."""
        from ganzoo import schema

        return schema.read_run_config(self.path)

    @property
    def model(self) -> str:
        return str(self.config["model"])

    def metrics(self) -> list[dict[str, Any]]:
        """The rows of metrics.jsonl (one per logged step: ``step``, every loss term, ``steps_per_s``,
        ``elapsed_s``); [] before the first log."""
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        rows = []
        try:
            with path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except ValueError:
                        row = None
                    if not isinstance(row, dict):
                        raise GanzooError(f"'{path}' line {number} is not a JSON object; the file was edited or "
                                          "cut short: remove that line")
                    rows.append(row)
        except UnicodeDecodeError:
            raise GanzooError(f"'{path}' is not UTF-8 text; the file was edited or damaged") from None
        except OSError as exc:
            raise io_error(exc, path, "check the run folder", action="read") from None
        return rows

    def load(self, weights: str | None = None, direction: str | None = None) -> Generator | Translator:
        """The run's generator (EMA weights when the run has them; ``weights="raw"`` for the trained
        ones), a :class:`Translator` for an image-to-image run. Load it once to sample many times:
        :meth:`sample` loads it on every call."""
        return load(self.path, weights=weights, direction=direction)

    def sample(self, n: int = 64, seed: int | None = None, labels: Any = None, codes: Mapping[str, Any] | None = None,
               truncation: float | None = None, weights: str | None = None) -> np.ndarray:
        """``self.load(weights).sample(...)``: see :meth:`Generator.sample`."""
        G = self.load(weights)
        if isinstance(G, Translator):
            raise GanzooError(f"run '{self.path}' translates images ({G.model}): draw no samples, translate them with "
                              "run.load().translate(images)")
        return G.sample(n, seed=seed, labels=labels, codes=codes, truncation=truncation)

    def export(self, path: PathLike | None = None, *, weights: str | None = None, opset: int | None = None,
               verify: bool = True, exporter: str = "auto", fp16: bool = False, int8: bool = False,
               direction: str | None = None) -> Path:
        """A verified ONNX file of this run's generator: :func:`export`."""
        return export(self, path, weights=weights, opset=opset, verify=verify, exporter=exporter, fp16=fp16,
                      int8=int8, direction=direction)

    def eval(self, n: int | None = None, seed: int = 0, weights: str | None = None, metric: str = "classifier",
             reference: str | None = None, inception_weights: PathLike | None = None,
             data_dir: PathLike | None = None, download: bool = False) -> dict[str, Any]:
        """The offline scores ``ganzoo eval`` reports, as the dict eval.json holds (nothing is
        written): :func:`evaluate`."""
        return evaluate(self, n=n, seed=seed, weights=weights, metric=metric, reference=reference,
                        inception_weights=inception_weights, data_dir=data_dir, download=download)

    def resume(self, steps: int, **options: Any) -> Run:
        """Train on to ``steps`` in total (``ganzoo train --resume``)."""
        return train(resume=self, steps=steps, **options)


def _run_path(run: PathLike | Run, what: str) -> Path:
    if isinstance(run, Run):
        return run.path
    if not isinstance(run, (str, os.PathLike)):
        raise GanzooError(f"ganzoo.{what} takes a run folder (a path or a ganzoo.Run), got {type(run).__name__}")
    return Path(run)


# -- export and evaluation -----------------------------------------------------------------------
def export(run: PathLike | Run, path: PathLike | None = None, *, weights: str | None = None, opset: int | None = None,
           verify: bool = True, exporter: str = "auto", fp16: bool = False, int8: bool = False,
           direction: str | None = None) -> Path:
    """Export a run's generator to a self-describing ONNX file and verify it against PyTorch
    (``ganzoo export RUN --onnx``); returns the file's path. ``path`` defaults to
    ``exports/RUN-NAME.onnx``; a folder gets that name inside it. A failed verification writes
    no file. ``fp16`` (GPU providers) and ``int8`` (CPUs) write smaller files, as
    ``--fp16`` and ``--int8`` do. An image-to-image run exports with dynamic height and width;
    ``direction`` picks CycleGAN's generator ("a2b", the default, or "b2a")."""
    _need("export")
    from ganzoo.onnx.export import export_run

    where = _run_path(run, "export")
    if not all(isinstance(flag, bool) for flag in (verify, fp16, int8)):
        raise GanzooError("ganzoo.export: verify=, fp16= and int8= take True or False")
    result = export_run(where, output=None if path is None else os.fspath(path), opset=opset, weights=weights,
                        verify=verify, exporter=exporter, fp16=fp16, int8=int8, direction=direction)
    return Path(result.path)


def evaluate(source: PathLike | Run | Generator, n: int | None = None, seed: int = 0, weights: str | None = None,
             metric: str = "classifier", reference: str | None = None, inception_weights: PathLike | None = None,
             data_dir: PathLike | None = None, download: bool = False,
             labels: str | Sequence[str | int] | int | None = None) -> dict[str, Any]:
    """``ganzoo eval`` as a function: a run folder or an .onnx file scored offline, returned as
    the dict the CLI writes to eval.json (nothing is written here). ``labels`` (a class, a name,
    or a list of them) scores those classes of a conditional model alone."""
    _need("eval")
    if isinstance(source, Generator):
        source = source.path
    where = _run_path(source, "evaluate")
    folder = None if data_dir is None else os.fspath(data_dir)
    # a list keeps names with commas whole; one class is a list of one
    classes: str | Sequence[Any] | None = [labels] if isinstance(labels, numbers.Integral) else \
        cast("str | Sequence[Any] | None", labels)
    if not isinstance(metric, str):
        raise GanzooError(f"metric= takes 'classifier' or names like 'fid,kid', got {metric!r:.40}")
    if metric.strip().lower() == "classifier":
        if reference or inception_weights:
            raise GanzooError("reference= and inception_weights= go with metric='fid', 'kid' or 'is'")
        from ganzoo.metrics.evaluate import evaluate as score_classifier

        return score_classifier(where, n=n, seed=seed, weights=weights, data_dir=folder, download=download,
                                labels=classes)
    from ganzoo.metrics.standard import parse_metrics, score

    return score(str(where), parse_metrics(metric), n=n, seed=seed, weights=weights, reference=reference,
                 inception=None if inception_weights is None else os.fspath(inception_weights), data_dir=folder,
                 download=download, progress=False, echo=None, labels=classes)


# -- sampling ------------------------------------------------------------------------------------
def _pixels(images: np.ndarray) -> np.ndarray:
    """float [N, C, H, W] in [-1, 1] → uint8 [N, H, W, C], rounded as the grid pictures are."""
    return ((np.clip(images, -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1)


class Generator:
    """A trained generator behind one interface, whether it came from a run folder (PyTorch,
    EMA weights when the run has them) or an .onnx file (onnxruntime alone, no torch): the
    same seed, labels, codes and truncation give the same samples from both, as they do in
    ``ganzoo sample`` and ``ganzoo generate``.

    Attributes: ``model``, ``latent_dim``, ``num_classes`` (0: unconditional),
    ``output_shape`` (``(C, H, W)`` or ``(D,)``; None for a foreign .onnx that does not say),
    ``kind`` ("images" or "points"), ``codes`` (InfoGAN's latent codes as dicts; [] for most),
    ``truncation`` ("w": the network truncates its own latent space; "z": psi truncates z as it
    is drawn), ``backend`` ("torch" or "onnxruntime"), ``weights`` ("ema", "raw" or None),
    ``dataset``, ``modes`` (a point mixture's centres or None), ``class_names`` (the data
    set's, or None: labels are then the integers 0..num_classes-1; where there are names, a
    label may be a name or its number), ``path`` and ``module`` (the torch module, or the
    onnxruntime Generator)."""

    def __init__(self, module: Any, backend: str, path: Path, *, model: str, latent_dim: int, num_classes: int,
                 output_shape: tuple[int, ...] | None, kind: str, codes: list[dict[str, Any]], truncation: str,
                 weights: str | None, dataset: str | None, modes: np.ndarray | None,
                 class_names: list[str] | None = None) -> None:
        self.module, self.backend, self.path = module, backend, path
        self.model, self.latent_dim, self.num_classes = model, latent_dim, num_classes
        self.output_shape, self.kind, self.codes, self.truncation = output_shape, kind, codes, truncation
        self.weights, self.dataset, self.modes, self.class_names = weights, dataset, modes, class_names

    def __repr__(self) -> str:
        cond = f" num_classes={self.num_classes}" if self.num_classes else ""
        return (f"<ganzoo.Generator {self.model!r} ({self.backend}) latent_dim={self.latent_dim}{cond} "
                f"output_shape={self.output_shape}>")

    def _draw(self, n: int, seed: int | None, labels: Any, codes: Mapping[str, Any] | None,
              truncation: Any) -> np.ndarray:
        """float32 samples ``[n, *output_shape]`` as the network makes them."""
        from ganzoo import limits
        from ganzoo.sampling import check_labels, check_seed, check_truncation, count, resolve_codes

        n, psi = count(n), check_truncation(truncation)
        check_seed(seed)
        if self.output_shape:
            limits.check_memory(f"{n:,} samples of {list(self.output_shape)}",
                                2 * n * limits.sample_bytes(self.output_shape), "lower n")
        if self.backend == "onnxruntime":
            return np.asarray(self.module.sample(n, labels=labels, codes=codes, seed=seed, truncation=psi))
        import torch

        from ganzoo.api import generate
        from ganzoo.sampling import latents, truncated_latents

        y = check_labels(labels, n, self.num_classes, self.model, self.class_names)
        c = resolve_codes(self.codes, codes, n, seed, model=self.model)
        w_psi = psi if self.truncation == "w" else None
        z = torch.from_numpy(latents(n, self.latent_dim, seed) if w_psi is not None
                             else truncated_latents(n, self.latent_dim, seed, psi))
        y_t = None if y is None else torch.from_numpy(y)
        c_t = {name: torch.from_numpy(v) for name, v in c.items()}
        with torch.no_grad():
            parts = [generate(self.module, z[i:i + TORCH_CHUNK], None if y_t is None else y_t[i:i + TORCH_CHUNK],
                              {k: v[i:i + TORCH_CHUNK] for k, v in c_t.items()} or None, truncation=w_psi)
                     .float().numpy() for i in range(0, n, TORCH_CHUNK)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def sample(self, n: int, seed: int | None = None, labels: Any = None, codes: Mapping[str, Any] | None = None,
               truncation: float | None = None, raw: bool = False) -> np.ndarray:
        """``n`` samples: images as uint8 ``[n, H, W, C]`` (ready for Pillow or matplotlib), points
        as float32 ``[n, D]``; ``raw=True`` gives the network's float32 output as it is (images
        ``[n, C, H, W]`` in [-1, 1]).

        ``seed``: None draws fresh latents; an int gives the same samples everywhere. ``labels``
        (conditional models): one class for all, or one per sample; None spreads the samples over
        every class, class-major. ``codes``: ``{name: value or n values}``, codes left out drawn
        from their priors. ``truncation``: psi in [0, 1] (None: 1, none); lower = more typical."""
        out = self._draw(n, seed, labels, codes, truncation)
        if raw or out.ndim != 4:
            return out.astype(np.float32, copy=False)
        return _pixels(out)

    def save_grid(self, path: PathLike, n: int = 64, seed: int | None = 0, labels: Any = None,
                  codes: Mapping[str, Any] | None = None, truncation: float | None = None,
                  nrow: int | None = None) -> Path:
        """A picture of ``n`` samples (``ganzoo sample -o``): an image grid, one row per class for a
        conditional model when ``labels`` is None, or a scatter plot for 2-D points. Returns the path."""
        from ganzoo import limits
        from ganzoo.grid import picture_path, save_image_grid, save_scatter
        from ganzoo.sampling import count, every_class

        target = picture_path(os.fspath(path))
        n = count(n)
        if self.num_classes and labels is None:
            labels = every_class(self.num_classes, n)
            n, nrow = len(labels), nrow or len(labels) // self.num_classes
        if self.output_shape:
            limits.check_picture("n", n, self.output_shape, nrow)
        out = self._draw(n, seed, labels, codes, truncation)
        if out.ndim == 2 and out.shape[1] == 2:
            return save_scatter(out, target, modes=self.modes, title=f"{self.model} ({self.backend})")
        if out.ndim != 4 or out.shape[1] not in (1, 3, 4):
            raise GanzooError(f"samples of shape {list(out.shape[1:])} cannot be drawn as a picture; "
                              "take them with .sample(n) instead")
        from ganzoo.sampling import row_names

        names = row_names(list(_drawn_labels(labels, n, self)), nrow, self.class_names) if labels is not None \
            and self.num_classes else None
        return save_image_grid(out, target, nrow=nrow, row_names=names)


class Translator:
    """A trained image-to-image generator (pix2pix, cyclegan, srgan) behind one interface,
    from a run folder (PyTorch) or an .onnx file (onnxruntime alone, no torch): what
    :func:`load` returns for one. ``translate`` takes pictures as uint8 ``[N, H, W, C]`` (or one
    ``[H, W, C]``) or the network's float32 ``[N, C, H, W]`` in [-1, 1], of any size: sides the
    network cannot take are padded by reflection and the result cropped back.

    Attributes: ``model``, ``backend`` ("torch" or "onnxruntime"), ``path``, ``source_shape`` and
    ``output_shape`` (the training sizes, ``(C, H, W)``), ``scale`` (output side / source side),
    ``multiple`` (sides the network takes are multiples of it), ``domains`` ((from, to)),
    ``direction`` (CycleGAN's "a2b" or "b2a"; "" for a model with one generator), ``weights``,
    ``dataset`` and ``module`` (the torch module, or the runtime's Translator)."""

    def __init__(self, module: Any, backend: str, path: Path, *, model: str, source_shape: tuple[int, ...],
                 output_shape: tuple[int, ...], scale: int, multiple: int, domains: tuple[str, str], direction: str,
                 weights: str | None, dataset: str | None) -> None:
        self.module, self.backend, self.path, self.model = module, backend, path, model
        self.source_shape, self.output_shape, self.scale, self.multiple = source_shape, output_shape, scale, multiple
        self.domains, self.direction, self.weights, self.dataset = domains, direction, weights, dataset

    def __repr__(self) -> str:
        return (f"<ganzoo.Translator {self.model!r} ({self.backend}) {self.domains[0]} -> {self.domains[1]} "
                f"scale={self.scale}>")

    def translate(self, images: Any, raw: bool = False) -> np.ndarray:
        """The translations of ``images``: uint8 ``[N, H', W', C']`` pictures (``raw=True``: the
        network's float32 ``[N, C', H', W']`` in [-1, 1]), ``H' = scale x H``."""
        x = np.asarray(images)
        pictures = x.dtype == np.uint8
        if pictures:
            x = x[None] if x.ndim == 3 else x
            if x.ndim == 4:
                x = x.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0
        elif x.ndim == 3:
            x = x[None]
        c = self.source_shape[0]
        if x.ndim != 4 or x.shape[1] != c or not len(x):
            want = f"uint8 [N, H, W, {c}] pictures or float32 [N, {c}, H, W] in [-1, 1]"
            raise GanzooError(f"{self.model} translates {want}; got {x.dtype} {list(np.asarray(images).shape)}")
        from ganzoo import limits

        h, w = int(x.shape[2]), int(x.shape[3])
        limits.check_memory(f"{len(x):,} translations of {h} x {w} pixels",
                            4 * len(x) * self.output_shape[0] * h * w * self.scale**2 * 2, "translate fewer at a time")
        out = self.module.translate(x.astype(np.float32)) if self.backend == "onnxruntime" else self._torch(x)
        if raw:
            return out.astype(np.float32, copy=False)
        return _pixels(out)

    def _torch(self, x: np.ndarray) -> np.ndarray:
        import torch

        from ganzoo.onnx.translate import pad

        # padded as the runtime pads (ganzoo.onnx.translate.Translator.plan): to the next multiple the
        # network takes, so both backends see the same pixels
        m, (h, w) = self.multiple, x.shape[2:]
        padded = pad(x, -(-h // m) * m, -(-w // m) * m)
        s = self.scale
        with torch.no_grad():
            parts = [self.module(torch.from_numpy(np.ascontiguousarray(padded[i:i + TORCH_CHUNK]))).float().numpy()
                     for i in range(0, len(padded), TORCH_CHUNK)]
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return out[:, :, :h * s, :w * s]


def _drawn_labels(labels: Any, n: int, G: Generator) -> list[int]:
    """The labels ``G`` draws for ``labels`` (names resolved), for naming grid rows."""
    from ganzoo.sampling import check_labels

    y = check_labels(labels, n, G.num_classes, G.model, G.class_names)
    return [] if y is None else [int(v) for v in y]


def _from_run(path: Path, weights: str | None, direction: str | None) -> Generator | Translator:
    _need("load")
    from ganzoo.api import truncates_w
    from ganzoo.engine.build import load_generator

    G, meta, used = load_generator(path, weights)
    data = meta.get("data") or {}
    if data.get("source_shape"):
        return _translator_from_run(path, G, meta, used, direction)
    if direction is not None:
        raise GanzooError(f"direction= applies to image-to-image runs; '{path}' holds a {meta['model']} run: drop it")
    attrs: Any = G  # the generator contract's attributes, which nn.Module's typing cannot know
    modes = np.asarray(data["modes"], dtype=np.float32) if data.get("modes") else None
    shape = tuple(int(s) for s in attrs.output_shape)
    return Generator(G, "torch", path, model=str(meta["model"]), latent_dim=int(attrs.latent_dim),
                     num_classes=int(attrs.num_classes), output_shape=shape,
                     kind="points" if len(shape) == 1 else "images",
                     codes=[c.as_dict() for c in (getattr(G, "codes", None) or ())],
                     truncation="w" if truncates_w(G) else "z", weights=used, dataset=meta.get("dataset"),
                     modes=modes, class_names=data.get("class_names"))


def _translator_from_run(path: Path, G: Any, meta: dict[str, Any], used: str, direction: str | None) -> Translator:
    from ganzoo.api import directions

    names = directions(G)
    if direction is not None and direction not in names:
        raise GanzooError(f"direction={direction!r}: model '{meta['model']}' has "
                          + (f"the directions {', '.join(names)}" if names else "one generator; drop direction="))
    chosen = direction or (names[0] if names else "")
    net = getattr(G, chosen) if chosen else G
    domains = [str(d) for d in (meta["data"].get("domains") or ("source", "target"))]
    if names and chosen != names[0]:  # a model's second direction goes the way back
        domains = domains[::-1]
    return Translator(net, "torch", path, model=str(meta["model"]), source_shape=tuple(net.source_shape),
                      output_shape=tuple(net.output_shape), scale=int(net.scale), multiple=int(net.multiple),
                      domains=(domains[0], domains[1]), direction=chosen, weights=used, dataset=meta.get("dataset"))


def _from_onnx(path: Path, provider: str, threads: int | None) -> Generator | Translator:
    from ganzoo.onnx import runtime
    from ganzoo.onnx.translate import load_any

    found = load_any(path, provider=provider, threads=threads)
    if not isinstance(found, runtime.Generator):
        return Translator(found, "onnxruntime", path, model=found.model, source_shape=tuple(found.source_shape),
                          output_shape=tuple(found.output_shape), scale=found.scale, multiple=found.multiple,
                          domains=found.domains, direction=found.direction, weights=found.weights,
                          dataset=found.dataset)
    G = found
    return Generator(G, "onnxruntime", path, model=G.model, latent_dim=G.latent_dim, num_classes=G.num_classes,
                     output_shape=None if G.output_shape is None else tuple(G.output_shape), kind=G.kind,
                     codes=list(G.codes), truncation=G.truncation, weights=G.weights, dataset=G.dataset,
                     modes=G.modes, class_names=G.class_names)


def load(source: PathLike | Run, *, weights: str | None = None, provider: str = "auto",
         threads: int | None = None, direction: str | None = None) -> Generator | Translator:
    """A trained generator from a run folder (PyTorch; ``weights`` "ema" or "raw", None: EMA when
    the run has it) or from an exported .onnx file (onnxruntime only: this path never imports
    torch; ``provider`` "auto", "cpu" or "cuda", ``threads`` for the CPU). An image-to-image
    model gives a :class:`Translator`; ``direction`` picks one of a run's generators (CycleGAN's
    "a2b", the default, or "b2a")."""
    if isinstance(source, Run):
        source = source.path
    if not isinstance(source, (str, os.PathLike)):
        raise GanzooError(f"ganzoo.load takes a run folder or an .onnx file, got {type(source).__name__}")
    path = Path(source)
    if path.is_dir():
        if provider != "auto" or threads is not None:
            raise GanzooError("provider= and threads= apply to .onnx files; a run folder samples with PyTorch on "
                              "the CPU: drop them")
        return _from_run(path, weights, direction)
    if not path.exists():
        raise GanzooError(f"no such run folder or .onnx file '{path}'")
    if weights is not None:
        raise GanzooError(f"weights= applies to run folders; '{path}' holds the weights it was exported with "
                          "(export again with weights='raw' for the others)")
    if direction is not None:
        raise GanzooError(f"direction= applies to run folders; '{path}' holds the direction it was exported with "
                          "(export again with --direction for the other)")
    return _from_onnx(path, provider, threads)


# -- modules -------------------------------------------------------------------------------------
def create_model(name: str, dataset: str | None = None, *, shape: Sequence[int] | None = None,
                 num_classes: int | None = None, latent_dim: int | None = None, discriminator: str | None = None,
                 seed: int | None = None, **options: Any) -> tuple[nn.Module, nn.Module]:
    """The model's generator and discriminator as the registry builds them for training, untrained
    and in train mode (timm's ``create_model`` habit).

    The data they are built for comes from ``dataset`` (a registered name; the model's own by
    default) or from ``shape`` (``(C, H, W)`` or ``(D,)``), with ``num_classes`` for a conditional
    model. ``options`` are the model's options (``ganzoo info NAME``), e.g. ``width=16``;
    ``discriminator="timm:resnet10t"`` swaps D as ``--discriminator`` does. ``seed`` seeds the
    weights without touching torch's global random state."""
    _need("create_model")
    import torch

    from ganzoo.engine.build import build_discriminator, build_generator
    from ganzoo.engine.config import resolve
    from ganzoo.registry import get_registry

    registry = get_registry()
    if not isinstance(name, str) or not name:
        raise GanzooError(f"ganzoo.create_model takes a model name such as 'dcgan', got {name!r:.40}")
    spec = registry.model(name)
    if dataset is not None and shape is not None:
        raise GanzooError("give dataset= or shape=, not both: the data set decides the shape")
    if shape is None:
        ds_spec = registry.dataset(dataset or spec.dataset)[0]
        if ds_spec.shape is None:
            raise GanzooError(f"data set '{dataset}' has no shape before it is loaded: give shape=(C, H, W) "
                              "(and num_classes= for a conditional model) instead")
        dims = tuple(int(s) for s in ds_spec.shape)
        if num_classes is None:
            num_classes = int(ds_spec.num_classes or 0) if spec.conditional else 0
    else:
        dims = _shape(shape)
    num_classes = _classes(spec, num_classes)
    kind = "points" if len(dims) == 1 else "images"
    if latent_dim is None:
        latent_dim = spec.defaults_for(kind).latent_dim
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}  # as --set gives them
    cfg = resolve(name, registry, dataset=dataset, latent_dim=latent_dim, discriminator=discriminator,
                  options=options, device="cpu")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            from ganzoo.sampling import check_seed

            check_seed(seed)
            torch.manual_seed(seed)
        G = build_generator(cfg, dims, num_classes, registry)
        D = build_discriminator(cfg, dims, num_classes, registry)
    return G.train(), D.train()


def _shape(shape: Any) -> tuple[int, ...]:
    from ganzoo.schema import MAX_POINT_DIM, MAX_SIDE

    try:
        dims = tuple(shape)
    except TypeError:
        dims = ()
    ints = all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in dims)
    ok = ints and ((len(dims) == 3 and 1 <= dims[0] <= 4 and all(1 <= d <= MAX_SIDE for d in dims[1:]))
                   or (len(dims) == 1 and 1 <= dims[0] <= MAX_POINT_DIM))
    if not ok:
        raise GanzooError(f"shape= takes (C, H, W) with C in 1..4 and H, W in 1..{MAX_SIDE}, or (D,) for points; "
                          f"got {shape!r:.40}")
    return tuple(int(d) for d in dims)


def _classes(spec: Any, num_classes: Any) -> int:
    from ganzoo.schema import MAX_CLASSES

    if num_classes is None and not spec.conditional:
        return 0
    if num_classes is None:
        raise GanzooError(f"model '{spec.name}' is conditional: give num_classes= (2 to {MAX_CLASSES:,}) with "
                          "shape=, or a labelled dataset=")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 0:
        raise GanzooError(f"num_classes= takes a non-negative integer, got {num_classes!r:.40}")
    if spec.conditional and not 2 <= num_classes <= MAX_CLASSES:
        raise GanzooError(f"model '{spec.name}' is conditional: give num_classes= between 2 and {MAX_CLASSES:,} "
                          "(or a labelled dataset=)")
    if not spec.conditional and num_classes:
        raise GanzooError(f"model '{spec.name}' is unconditional: drop num_classes=")
    return int(num_classes)


__all__ = ["Generator", "Run", "create_model", "evaluate", "export", "load", "train"]
