"""Sample from an exported ganzoo generator with numpy and onnxruntime only.

This module never imports torch, directly or through ganzoo: it is what a machine
without PyTorch runs (``ganzoo generate``, ``ganzoo bench``, the metrics on ONNX files),
and tests import it in a process where importing torch fails.

    from ganzoo.onnx import runtime
    G = runtime.load("exports/dcgan.onnx")          # provider="auto": CUDA where it loads, else CPU
    images = G.sample(64, seed=0)                   # float32 [64, C, H, W] in [-1, 1]
    digits = G.sample(10, labels=range(10), seed=0)  # conditional models

Seeds give the same latents everywhere: ``numpy.random.default_rng(seed)
.standard_normal((n, latent_dim), dtype=float32)``, the same on every machine and
provider, and the first k rows of ``latents(n, seed)`` equal ``latents(k, seed)``.

Generators with latent codes (InfoGAN) take one more input per code, named as the code
and described by the metadata ``ganzoo.codes``; :func:`sample_codes` draws them from
their priors with numpy, one stream per code beside the latents' stream, so a seed
gives the same codes everywhere too (``ganzoo sample`` uses it for the torch side):

    G = runtime.load("exports/infogan.onnx")
    digits = G.sample(10, codes={"c1": range(10), "c2": 0.5}, seed=0)  # c3 from its prior

Truncation (``truncation=psi``, 0 <= psi <= 1; lower = more typical, less varied) works
two ways, as the metadata ``ganzoo.truncation`` says. A ``"w"`` file (StyleGAN) takes psi
as a graph input ``truncation`` float32 [1] and pulls its own w toward the average w it
tracked in training; z stays plain N(0, I). Every other file (``"z"``, and files exported
before the key existed) is truncated here, in numpy, by how z is drawn:
:func:`truncated_latents` (the sampler BigGAN's authors published). Both ``ganzoo sample``
and ``ganzoo generate`` draw z with these functions, so a seed and a psi give the same z
in both.

The numpy side of sampling (latents, truncation, labels, codes) lives in
:mod:`ganzoo.sampling`, which ``ganzoo sample`` and the demo share; its functions are
importable from here as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ganzoo.errors import GanzooError
from ganzoo.limits import LATENT_MAX
from ganzoo.onnx import IMAGES, LABELS, METADATA_KEYS, TRUNCATION, Z
from ganzoo.onnx.session import CUDA, ProviderUnavailable, default_threads, open_session
from ganzoo.sampling import (
    TRUNCATION_BOUND,
    check_labels,
    check_truncation,
    count,
    default_labels,
    describe_codes,
    latents,
    resolve_codes,
    sample_codes,
    slerp,
    truncated_latents,
)
from ganzoo.schema import MAX_CLASS_NAMES_BYTES, MAX_CLASSES, MAX_POINT_DIM, MAX_SIDE, class_names_problem

PROVIDERS = ("auto", "cpu", "cuda")
#: Samples per onnxruntime call in :meth:`Generator.sample`: bounds memory for n = 50,000.
CHUNK = 256
_ONNX_ERROR = re.compile(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*")
_LOAD_FAILED = re.compile(r"^Load model from .* failed:\s*")
#: Largest .onnx file opened: protobuf cannot hold more in one file (bigger models keep their
#: weights in external data files beside it, which this limit does not count).
MAX_ONNX_BYTES = 2 * 1024**3
#: Latent codes one file may declare (InfoGAN uses 3).
MAX_CODES = 64
#: Values of the metadata ``ganzoo.truncation``: where psi is applied.
TRUNCATION_KINDS = ("w", "z")
#: Graph names a code may not take: they are the I/O contract's own.
_RESERVED = (Z, LABELS, IMAGES)


def parse_codes_metadata(text: str | None, where: str = "the file") -> list[dict[str, Any]]:
    """The codes a ``ganzoo.codes`` metadata value lists ([] when absent or empty).

    Checked here, once, so that sampling can trust every size and range it reads."""
    if text is None or not text.strip():
        return []
    try:
        entries = json.loads(text)
        if not isinstance(entries, list):
            raise TypeError("not a list")
        if len(entries) > MAX_CODES:
            raise ValueError(f"{len(entries)} codes, over the limit of {MAX_CODES}")
        codes: list[dict[str, Any]] = []
        for entry in entries:
            name, kind = entry["name"], entry["kind"]
            if not isinstance(name, str) or not name.isidentifier() or name in _RESERVED:
                raise ValueError(f"bad name {name!r}")
            if kind == "categorical":
                size = entry["size"]
                if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= MAX_CLASSES:
                    raise ValueError(f"size {size!r:.30} is not an integer in 2..{MAX_CLASSES:,}")
                codes.append({"name": name, "kind": kind, "size": size})
            elif kind == "continuous":
                low, high = float(entry["low"]), float(entry["high"])
                if not (np.isfinite(low) and np.isfinite(high) and low < high):
                    raise ValueError(f"bad range {low}..{high}")
                codes.append({"name": name, "kind": kind, "low": low, "high": high})
            else:
                raise ValueError(f"bad kind {kind!r}")
        if len({c["name"] for c in codes}) != len(codes):
            raise ValueError("duplicate names")
    except (KeyError, TypeError, ValueError, OverflowError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise GanzooError(f"{where} has a corrupt ganzoo.codes ({reason}): {text!r:.80}; export it again") from None
    return codes










def parse_class_names_metadata(text: str | None, num_classes: int, where: str = "the file") -> list[str] | None:
    """The class names ``ganzoo.class_names`` lists (None when absent: files exported before
    names were kept, or from sets without names), checked once: one name per class, each
    short and printable, so a crafted file cannot put a gigabyte or a newline in a grid."""
    if text is None:
        return None
    names: Any = None
    if len(text) <= MAX_CLASS_NAMES_BYTES:
        try:
            names = json.loads(text)
        except (ValueError, RecursionError):
            names = None
    problem = class_names_problem(names, num_classes) if num_classes else "absent: the file takes no labels"
    if problem:
        raise GanzooError(f"{where} has a corrupt ganzoo.class_names ({problem}): {text!r:.60}; export it again")
    return list(names)


def _short(exc: BaseException) -> str:
    text = _LOAD_FAILED.sub("", _ONNX_ERROR.sub("", str(exc).strip()))
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return first if len(first) <= 200 else first[:197] + "..."


def _unavailable(why: ProviderUnavailable) -> str:
    """Why CUDA does not run here, for ``--provider cuda``'s error."""
    if why.reason == "absent":
        return f"this onnxruntime has no CUDA provider (providers: {', '.join(why.available)})"
    if why.reason == "driver":
        return "no NVIDIA driver found (libcuda)"
    if why.reason == "error" and why.error is not None:
        return _short(why.error)
    return "the CUDA provider did not load (missing CUDA/cuDNN libraries? pip install 'onnxruntime-gpu[cuda,cudnn]')"


def _session(path: Path, provider: str, threads: int | None) -> Any:
    if provider not in PROVIDERS:
        raise GanzooError(f"--provider must be one of {', '.join(PROVIDERS)}, got '{provider}'")
    if provider in ("auto", "cuda"):
        try:
            return open_session(path, "cuda", threads)
        except ProviderUnavailable as why:
            if provider == "cuda":
                raise GanzooError(f"CUDA is not usable here: {_unavailable(why)}; use --provider cpu (or auto)") \
                    from None
    try:
        return open_session(path, "cpu", threads)
    except GanzooError:  # onnxruntime not installed
        raise
    except Exception as exc:
        raise GanzooError(f"'{path}' is not an ONNX model onnxruntime can load ({_short(exc)}); "
                          "export one with: ganzoo export RUN_DIR --onnx") from None


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _static(shape: Iterable[Any]) -> list[int] | None:
    dims = list(shape)
    return [int(d) for d in dims] if all(isinstance(d, int) and d > 0 for d in dims) else None


class Generator:
    """An exported generator: its metadata, and sampling that returns numpy arrays.

    Attributes: ``latent_dim``, ``num_classes`` (0 = unconditional), ``output_shape``
    (tuple, or None when neither the metadata nor the graph tell), ``output_range``,
    ``kind`` ("images" or "points"), ``model``, ``dataset``, ``steps``, ``weights``,
    ``version``, ``modes`` (mixture centres or None), ``metadata`` (every metadata_prop),
    ``class_names`` (one name per class from ``ganzoo.class_names``, or None; ``labels`` may
    name classes where it is set), ``codes`` (the latent codes the graph takes beside z, as
    ``ganzoo.codes`` lists them:
    ``{"name", "kind": "categorical", "size"}`` or ``{"name", "kind": "continuous", "low",
    "high"}``; [] for generators without codes), ``truncation`` ("w": the graph takes psi
    and truncates w itself; "z": psi truncates the latents as they are drawn), ``provider``
    (the onnxruntime provider running it), ``path``, ``session``."""

    def __init__(self, path: Path, session: Any, latent_dim: int, num_classes: int,
                 output_shape: tuple[int, ...] | None, metadata: dict[str, str], input_name: str,
                 labels_name: str | None, output_name: str, codes: list[dict[str, Any]] | None = None,
                 truncation_name: str | None = None) -> None:
        self.path, self.session, self.metadata = path, session, metadata
        self.latent_dim, self.num_classes, self.output_shape = latent_dim, num_classes, output_shape
        self.codes: list[dict[str, Any]] = list(codes or [])
        self.class_names = parse_class_names_metadata(metadata.get("ganzoo.class_names"), num_classes, f"'{path}'")
        self._z, self._labels, self._out, self._truncation = input_name, labels_name, output_name, truncation_name
        self.truncation: str = "w" if truncation_name is not None else "z"
        self.provider: str = session.get_providers()[0]
        self.model = metadata.get("ganzoo.model", path.stem)
        self.dataset: str | None = metadata.get("ganzoo.dataset") or None
        self.steps = _int(metadata.get("ganzoo.steps"))
        self.weights: str | None = metadata.get("ganzoo.weights") or None
        self.version: str | None = metadata.get("ganzoo.version") or None
        kind = metadata.get("ganzoo.kind")
        if kind not in ("images", "points"):
            kind = "images" if output_shape is not None and len(output_shape) == 3 else "points"
        self.kind = kind
        self.output_range = metadata.get("ganzoo.output_range", "[-1, 1]" if kind == "images" else "unbounded")
        self.modes: np.ndarray | None = None  # mixture centres, for scatter plots and mode coverage
        try:
            if metadata.get("ganzoo.modes"):
                self.modes = np.asarray(json.loads(metadata["ganzoo.modes"]), dtype=np.float32)
        except (json.JSONDecodeError, TypeError, ValueError):
            self.modes = None

    def __repr__(self) -> str:
        cond = f", num_classes={self.num_classes}" if self.num_classes else ""
        cond += f", codes={describe_codes(self.codes)}" if self.codes else ""
        return (f"<ganzoo.onnx.runtime.Generator {self.model!r} latent_dim={self.latent_dim}{cond} "
                f"output_shape={self.output_shape} provider={self.provider}>")

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    @property
    def truncates_w(self) -> bool:
        """Whether the graph takes psi itself (``ganzoo.truncation`` = "w")."""
        return self._truncation is not None

    def latents(self, n: int, seed: int | None = None, truncation: Any = None) -> np.ndarray:
        """The latents :meth:`sample` uses for (n, seed, truncation): plain N(0, I) for a file
        that truncates w itself, :func:`truncated_latents` for every other one."""
        n, psi = count(n), check_truncation(truncation)
        if self.truncates_w:
            return latents(n, self.latent_dim, seed)
        return truncated_latents(n, self.latent_dim, seed, psi)

    def default_labels(self, n: int) -> np.ndarray:
        """Every class, class-major (equal shares, the first classes one more when n is not a multiple)."""
        return default_labels(self.num_classes, n)

    def check_labels(self, labels: Any, n: int) -> np.ndarray | None:
        """Validate labels before onnxruntime sees them: out-of-range labels would raise
        inside Gather (embeddings) or silently give zeros (one-hot)."""
        return check_labels(labels, n, self.num_classes, self.model, self.class_names)

    def check_codes(self, codes: Mapping[str, Any] | None, n: int, seed: int | None = None) -> dict[str, np.ndarray]:
        """Every code's values for n samples (see :func:`resolve_codes`): the given ones
        validated, the others drawn from their priors with ``seed``. {} without codes."""
        return resolve_codes(self.codes, codes, n, seed, model=self.model)

    def _graph_psi(self, truncation: Any) -> np.ndarray | None:
        """psi as the graph's ``truncation`` input; None for a file that truncates z, where
        psi belongs to how z is drawn and :meth:`run`, given z, cannot apply it."""
        psi = check_truncation(truncation)
        if self.truncates_w:
            return np.array([psi], dtype=np.float32)
        if psi != 1.0:
            raise GanzooError(f"'{self.model}' truncates z as it is drawn, not inside the graph: draw z with "
                              f"latents(n, seed, truncation={psi:g}), or call sample(..., truncation={psi:g})")
        return None

    def run(self, z: np.ndarray, labels: Any = None, codes: Mapping[str, Any] | None = None,
            batch_size: int = CHUNK, seed: int | None = None, truncation: Any = None) -> np.ndarray:
        """The generator on given latents ``[n, latent_dim]`` (float32), labels and codes,
        run ``batch_size`` rows at a time so that n = 50,000 does not need 50,000 activations.

        ``codes``: ``{name: scalar or n values}``; codes left out are drawn from their
        priors (:func:`sample_codes` with ``seed``; None: fresh draws). ``truncation``: psi
        for a file that truncates w (``truncates_w``; None: 1); other files are truncated
        by the z they are given (:meth:`latents`), so psi < 1 is an error there."""
        psi = self._graph_psi(truncation)
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim or not len(z):
            raise GanzooError(f"z must have shape [n, {self.latent_dim}] with n >= 1, got {list(z.shape)}")
        y = self.check_labels(labels, len(z))
        c = self.check_codes(codes, len(z), seed)
        step = max(1, int(batch_size))
        parts = [self._run(z[i:i + step], None if y is None else y[i:i + step],
                           {name: v[i:i + step] for name, v in c.items()}, psi) for i in range(0, len(z), step)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _run(self, z: np.ndarray, y: np.ndarray | None, codes: dict[str, np.ndarray] | None = None,
             psi: np.ndarray | None = None) -> np.ndarray:
        feeds = {self._z: z}
        if self._labels is not None:
            feeds[self._labels] = np.ascontiguousarray(y)
        for name, value in (codes or {}).items():
            feeds[name] = np.ascontiguousarray(value)
        if self._truncation is not None:
            feeds[self._truncation] = psi if psi is not None else np.ones(1, dtype=np.float32)
        try:
            if self.provider == CUDA:  # IO binding: inputs copied once, output allocated by the provider
                binding = self.session.io_binding()
                for name, value in feeds.items():
                    binding.bind_cpu_input(name, value)
                binding.bind_output(self._out, "cuda")
                self.session.run_with_iobinding(binding)
                return binding.copy_outputs_to_cpu()[0]
            return self.session.run([self._out], feeds)[0]
        except Exception as exc:
            raise GanzooError(f"onnxruntime failed on '{self.path}': {_short(exc)}") from None

    def sample(self, n: int, labels: Any = None, codes: Mapping[str, Any] | None = None, seed: int | None = None,
               batch_size: int = CHUNK, truncation: Any = None) -> np.ndarray:
        """``n`` samples ``[n, *output_shape]`` float32.

        ``labels``: None (conditional models: every class in turn), one int, or n ints.
        ``codes`` (generators with latent codes): ``{name: value}``, a value being one
        number for every sample or n numbers; an integer in ``0..size-1`` for a categorical
        code, any finite number for a continuous one (outside the prior's ``[low, high]``
        the generator extrapolates: allowed, and worth a look). Codes left out are drawn
        from their priors. ``seed``: None draws fresh latents and codes; an int gives the
        same ones everywhere (:func:`latents`, :func:`sample_codes`). ``truncation``: psi in
        [0, 1] (None: 1, none); lower = more typical, less varied (see the module's doc)."""
        n, psi = count(n), check_truncation(truncation)
        y = self.check_labels(labels, n)
        c = self.check_codes(codes, n, seed)
        return self.run(self.latents(n, seed, psi), y, c, batch_size=batch_size,
                        truncation=psi if self.truncates_w else None)




def walk(model: Generator, n: int, frames: int, labels: Any = None, codes: Mapping[str, Any] | None = None,
         seed: int = 0, truncation: Any = None) -> list[np.ndarray]:
    """A latent walk: ``frames`` batches of ``n`` samples, each sample moving from its latent
    under ``seed`` to its latent under ``seed + 1`` (reached at frame frames/2) and back, so
    the animation loops without a jump; labels and codes stay fixed. ``truncation`` is psi,
    as in :meth:`Generator.sample`: the walk runs between the two seeds' truncated latents
    (a "w" file gets psi at every frame)."""
    if isinstance(frames, bool) or frames < 2:
        raise GanzooError(f"--interpolate takes the number of frames, at least 2, got {frames}")
    n, psi = count(n), check_truncation(truncation)
    y = model.check_labels(labels, n)
    c = model.check_codes(codes, n, seed)
    a, b = (model.latents(n, s, psi) for s in (seed, seed + 1))
    graph_psi = psi if model.truncates_w else None
    ts = (1 - np.cos(2 * np.pi * np.arange(frames) / frames)) / 2  # 0 → 1 → back, easing at both ends
    return [model.run(slerp(a, b, float(t)), y, c, truncation=graph_psi) for t in ts]




def _check_code_inputs(path: Path, by_name: dict[str, Any], codes: list[dict[str, Any]]) -> None:
    """Each code of ``ganzoo.codes`` must be a graph input of the right type: a wrong one
    would fail deep inside onnxruntime with a message about tensors, not about the file."""
    for code in codes:
        name = code["name"]
        value = by_name.get(name)
        if value is None:
            raise GanzooError(f"'{path}' lists the code '{name}' in ganzoo.codes but its graph has no input "
                              f"'{name}'; export it again")
        want = "tensor(int64)" if code["kind"] == "categorical" else "tensor(float)"
        if value.type != want or len(value.shape) != 1:
            raise GanzooError(f"input '{name}' of '{path}' is {value.type} {value.shape}; the {code['kind']} code "
                              f"'{name}' must be {want} [batch]; export it again")


def _latent_size(path: Path, inputs: list[Any], metadata: dict[str, str], latent_dim: int | None
                 ) -> tuple[int, int | None]:
    """The latent size (the metadata's, else ``latent_dim``), and the metadata's own (None when it has none)."""
    meta_latent = _meta_int(path, metadata, "ganzoo.latent_dim", 1, LATENT_MAX)
    if meta_latent is None:
        if latent_dim is None:
            ganzoo_file = any(k.startswith("ganzoo.") for k in metadata)
            missing = [k for k in METADATA_KEYS if k not in metadata]
            first = inputs[0] if inputs else None
            hint = f" (its input '{first.name}' is {first.type} {first.shape})" if first is not None else ""
            what = ("is not a ganzoo generator: it has no ganzoo.* metadata "
                    "(ganzoo.latent_dim, ganzoo.num_classes, ganzoo.output_shape, ...)"
                    if not ganzoo_file else f"lacks the metadata {', '.join(missing)}")
            raise GanzooError(f"'{path}' {what}; to run it anyway give its latent size with --latent-dim N "
                              f"(latent_dim=N in Python){hint}")
        dim = int(latent_dim)
    else:
        if latent_dim is not None and latent_dim != meta_latent:
            raise GanzooError(f"--latent-dim {latent_dim} contradicts the file: '{path}' takes {meta_latent}-d "
                              "latents; drop --latent-dim")
        dim = meta_latent
    if not 1 <= dim <= LATENT_MAX:
        raise GanzooError(f"--latent-dim must be an integer in 1..{LATENT_MAX:,}, got {dim}")
    return dim, meta_latent


def _latent_input(path: Path, inputs: list[Any], by_name: dict[str, Any], dim: int, flag: str) -> Any:
    """The graph input that takes the latents: float [batch, dim]. ``flag`` names where ``dim`` came from."""
    if Z in by_name:
        z_in = by_name[Z]
    elif len(inputs) == 1 and "float" in inputs[0].type:
        z_in = inputs[0]  # a foreign generator with one float input, run with --latent-dim
    else:
        described = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
        raise GanzooError(f"'{path}' has inputs {described}; a generator takes '{Z}' float [batch, latent_dim] "
                          f"and, if conditional, '{LABELS}' int64 [batch]")
    if z_in.type != "tensor(float)":
        raise GanzooError(f"input '{z_in.name}' of '{path}' is {z_in.type}; a generator's latents are tensor(float)")
    if len(z_in.shape) != 2:
        raise GanzooError(f"input '{z_in.name}' of '{path}' has shape {z_in.shape}; "
                          "a generator takes [batch, latent_dim]")
    if isinstance(z_in.shape[1], int) and z_in.shape[1] != dim:
        raise GanzooError(f"{flag} says {dim} but input '{z_in.name}' of '{path}' takes [batch, {z_in.shape[1]}]")
    return z_in


def _class_count(path: Path, metadata: dict[str, str], takes_labels: bool) -> int:
    """ganzoo.num_classes, checked against whether the graph has a labels input; 0 when it has none."""
    num_classes = _meta_int(path, metadata, "ganzoo.num_classes", 0, MAX_CLASSES)
    if not takes_labels:
        if num_classes:
            raise GanzooError(f"'{path}' says ganzoo.num_classes={num_classes} but its graph has no '{LABELS}' input; "
                              "export it again")
        return 0
    if not num_classes:
        raise GanzooError(f"'{path}' takes '{LABELS}' but its metadata does not say how many classes "
                          "(ganzoo.num_classes); export it with ganzoo export")
    return int(num_classes)


def _meta_int(path: Path, metadata: dict[str, str], key: str, low: int, high: int) -> int | None:
    """An integer metadata value within ``low..high``; None when the key is absent."""
    if key not in metadata:
        return None
    text = metadata[key].strip()
    value = _int(text) if len(text) <= 20 else None
    if value is None or not low <= value <= high:
        raise GanzooError(f"'{path}' has a corrupt {key} {metadata[key]!r:.40} (want an integer in {low}..{high:,}); "
                          "export it again")
    return value


def _sample_shape(path: Path, metadata: dict[str, str], out: Any) -> tuple[int, ...] | None:
    """One sample's shape: ganzoo.output_shape (within the limits, and agreeing with the
    output's static dims), else the output's static dims; None when neither tells."""
    graph = list(out.shape[1:])
    if "ganzoo.output_shape" in metadata:
        text = metadata["ganzoo.output_shape"]
        try:
            dims = json.loads(text) if len(text) <= 200 else None
        except (ValueError, RecursionError):
            dims = None
        ok = isinstance(dims, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in dims) and (
            (len(dims) == 3 and 1 <= dims[0] <= 4 and all(1 <= d <= MAX_SIDE for d in dims[1:]))
            or (len(dims) == 1 and 1 <= dims[0] <= MAX_POINT_DIM))
        if not ok:
            raise GanzooError(f"'{path}' has a corrupt ganzoo.output_shape {text!r:.40} (want [C, H, W] with C in "
                              f"1..4 and H, W in 1..{MAX_SIDE}, or [D] with D in 1..{MAX_POINT_DIM:,}); "
                              "export it again")
        shape = tuple(int(d) for d in dims or ())
        if graph and len(graph) != len(shape) or any(isinstance(g, int) and g != d for g, d in zip(graph, shape)):
            raise GanzooError(f"'{path}' says ganzoo.output_shape {list(shape)} but its output '{out.name}' is "
                              f"{out.shape}; export it again")
        return shape
    static = _static(graph)
    return tuple(static) if static else None


def _truncation_input(path: Path, by_name: dict[str, Any], metadata: dict[str, str], codes: list[dict[str, Any]]
                      ) -> str | None:
    """The graph input psi goes to: ``truncation`` for a "w" file, None for the others
    (``ganzoo.truncation`` = "z", or absent: files from before truncation existed). The
    metadata and the graph must agree, or the file would be run the wrong way silently."""
    kind = metadata.get("ganzoo.truncation")
    if kind is not None and kind not in TRUNCATION_KINDS:
        raise GanzooError(f"'{path}' has a corrupt ganzoo.truncation {kind!r:.40} (want 'w' or 'z'); "
                          "export it again")
    value = by_name.get(TRUNCATION)
    if kind == "w":
        if any(c["name"] == TRUNCATION for c in codes):
            raise GanzooError(f"'{path}' says ganzoo.truncation=w and also lists a code named '{TRUNCATION}'; "
                              "export it again")
        if value is None:
            raise GanzooError(f"'{path}' says ganzoo.truncation=w but its graph has no '{TRUNCATION}' input; "
                              "export it again")
        if value.type != "tensor(float)" or list(value.shape) != [1]:
            raise GanzooError(f"input '{TRUNCATION}' of '{path}' is {value.type} {value.shape}; psi must be "
                              "tensor(float) [1]; export it again")
        return TRUNCATION
    if value is not None and not any(c["name"] == TRUNCATION for c in codes):
        raise GanzooError(f"'{path}' has a '{TRUNCATION}' input but its metadata says ganzoo.truncation="
                          f"{kind or '(missing)'}, not w; export it again")
    return None


def _resolve_io(path: Path, session: Any, metadata: dict[str, str], latent_dim: int | None
                ) -> tuple[int, int, tuple[int, ...] | None, str, str | None, str, list[dict[str, Any]], str | None]:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    by_name = {i.name: i for i in inputs}
    dim, meta_latent = _latent_size(path, inputs, metadata, latent_dim)
    flag = "--latent-dim" if meta_latent is None else "its metadata ganzoo.latent_dim"
    z_in = _latent_input(path, inputs, by_name, dim, flag)

    labels_in = by_name.get(LABELS)
    codes = parse_codes_metadata(metadata.get("ganzoo.codes"), f"'{path}'")
    truncation_in = _truncation_input(path, by_name, metadata, codes)
    fed = (z_in.name, LABELS, *(c["name"] for c in codes), *([truncation_in] if truncation_in else []))
    others = [i.name for i in inputs if i.name not in fed]
    if others:
        listed = f" (its ganzoo.codes lists {describe_codes(codes)})" if codes else ""
        raise GanzooError(f"'{path}' has inputs this runtime cannot feed: {', '.join(others)}{listed}")
    _check_code_inputs(path, by_name, codes)
    num_classes = _class_count(path, metadata, labels_in is not None)

    out = next((o for o in outputs if o.name == IMAGES), outputs[0] if len(outputs) == 1 else None)
    if out is None:
        raise GanzooError(f"'{path}' has outputs {', '.join(o.name for o in outputs)}; a generator returns '{IMAGES}'")
    shape = _sample_shape(path, metadata, out)
    return (dim, num_classes, shape, z_in.name, labels_in.name if labels_in is not None else None, out.name,
            codes, truncation_in)


def open_file(path: str | Path, provider: str = "auto", threads: int | None = None) -> tuple[Path, Any, dict[str, str]]:
    """(path, session, metadata) of an .onnx file, after the checks every ganzoo file gets (a
    file, not empty, within protobuf's size): what :func:`load` and the image-to-image runtime
    (:mod:`ganzoo.onnx.translate`) share before they read the graph their own way."""
    path = Path(path)
    if path.is_dir():
        raise GanzooError(f"'{path}' is a directory, not an .onnx file; export a run with: ganzoo export {path} --onnx")
    if not path.is_file():
        raise GanzooError(f"no such file '{path}'")
    size = path.stat().st_size
    if size > MAX_ONNX_BYTES:
        raise GanzooError(f"'{path}' is {size / 1024**3:.1f} GB, over the {MAX_ONNX_BYTES // 1024**3} GB limit of an "
                          ".onnx file (protobuf's own); a generator that large keeps its weights in external data")
    with path.open("rb") as handle:
        head = handle.read(64)
    if not head:
        raise GanzooError(f"'{path}' is empty, not an ONNX model; export one with: ganzoo export RUN_DIR --onnx")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise GanzooError(f"threads must be a positive integer, got {threads!r}")
    session = _session(path, provider, threads)
    return path, session, dict(session.get_modelmeta().custom_metadata_map)


def is_translator(metadata: Mapping[str, str]) -> bool:
    """Whether the metadata is an image-to-image export's (``ganzoo.task`` = "translate")."""
    return metadata.get("ganzoo.task") == "translate"


def generator_from(path: Path, session: Any, metadata: dict[str, str], latent_dim: int | None = None) -> Generator:
    """The :class:`Generator` of an open noise -> image file (see :func:`load`); an image-to-image
    export is refused in one line pointing to ``ganzoo translate``."""
    if is_translator(metadata):
        try:
            domains = " -> ".join(str(d) for d in json.loads(metadata.get("ganzoo.domains", "")))
        except (ValueError, TypeError, RecursionError):
            domains = "source -> target"
        raise GanzooError(f"'{path}' is an image-to-image model ({metadata.get('ganzoo.model', '?')}, "
                          f"{domains[:80]}), not a noise -> image generator: use ganzoo translate {path} IMAGE -o OUT")
    dim, classes, shape, z_name, labels_name, out_name, codes, psi_name = _resolve_io(path, session, metadata,
                                                                                      latent_dim)
    return Generator(path, session, dim, classes, shape, metadata, z_name, labels_name, out_name, codes, psi_name)


def load(path: str | Path, provider: str = "auto", latent_dim: int | None = None,
         threads: int | None = None) -> Generator:
    """Open an exported generator.

    ``provider``: "auto" (CUDA where it really loads, else CPU), "cpu" or "cuda" (an
    error when CUDA is not usable). ``latent_dim`` runs an .onnx without ganzoo metadata
    (it must agree with the metadata when there is some). ``threads``: CPU intra-op
    threads (default: OMP_NUM_THREADS, else the cores available). An image-to-image export
    is refused (load it with :func:`ganzoo.onnx.translate.load`)."""
    path, session, metadata = open_file(path, provider, threads)
    return generator_from(path, session, metadata, latent_dim)


__all__ = ["CHUNK", "PROVIDERS", "TRUNCATION", "TRUNCATION_BOUND", "Generator", "check_truncation", "default_threads",
           "describe_codes", "generator_from", "is_translator", "latents", "load", "open_file",
           "parse_class_names_metadata", "parse_codes_metadata", "resolve_codes", "sample_codes", "slerp",
           "truncated_latents", "walk"]
