"""The conformance kit: checks a plugin author runs from their own pytest suite.

ganzoo promises that any registered model trains with the shared loop, saves and
loads through safetensors, and exports to a verified ONNX file. Those promises rest
on contracts (docs/plugins.md §2) that a plugin can break in ways that only show up much
later: a generator that samples noise inside ``forward`` exports fine and then never
matches PyTorch; a discriminator that returns ``[N, 1]`` trains with a silently
broadcast loss. This kit turns each contract into a check whose failure message says
what is wrong *and what to change*, so a plugin author finds out in seconds, in
their own CI, instead of from a user.

Use it the way scikit-learn's ``parametrize_with_checks`` is used: one pytest test
per entry and check, so a failure names exactly what broke::

    from ganzoo.testing import parametrize_with_checks

    @parametrize_with_checks(plugin="pacgan")
    def test_conformance(check):
        check()

or call the ``check_*`` functions directly (each runs every check of one entry and
raises one :class:`ConformanceError` listing all failures)::

    check_model("pacgan", dataset="digits")
    check_loss("my-loss")
    check_dataset("my-data")
    check_plugin("pacgan")          # the plugin itself and everything it registers

The checks are kept fast (a batch of 12, 3 training steps, on the CPU with one
thread): a model's whole set takes a few seconds. A batch of 12 divides by 2, 3, 4
and 6, for discriminators that group samples (PacGAN); pass ``batch_size`` if yours
needs another multiple. Training-based checks (training, save/load, ONNX) share one
tiny run per model and data set.

Importing this module does not import torch; the checks import it when they run.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ganzoo.api import Objective, codes_of, generate
from ganzoo.errors import GanzooError
from ganzoo.registry import BUILTIN_PLUGIN, Registry, get_registry
from ganzoo.terms import parse_reg

#: Samples per batch in every check (divisible by 2, 3, 4 and 6).
BATCH = 12
#: Generator steps of the tiny training run.
STEPS = 3
#: A sample must not depend on the rest of its batch by more than this (eval mode).
BATCH_TOLERANCE = 1e-5
#: Modules that must not be imported just to list a plugin's entries.
HEAVY_MODULES = ("torch", "torchvision", "timm", "onnx", "onnxruntime", "matplotlib", "sklearn", "scipy",
                 "tensorflow", "jax")

MODEL_CHECKS = ("spec", "generator", "discriminator", "training", "save-load", "onnx")
LOSS_CHECKS = ("spec", "contract", "training")
REGULARIZER_CHECKS = ("spec", "contract", "training")
DATASET_CHECKS = ("spec", "load", "deterministic")
PLUGIN_CHECKS = ("loaded", "torch-free", "unique-names")


class ConformanceError(AssertionError):
    """A check failed. An AssertionError, so pytest reports it as an ordinary test failure;
    the message names the entry, the check, what is wrong and how to fix it."""


@dataclass(frozen=True)
class Check:
    """One check of one entry, callable without arguments (what ``parametrize_with_checks`` yields)."""

    kind: str  # "plugin", "model", "loss", "regularizer" or "dataset"
    entry: str
    name: str
    run: Callable[[], None] = field(repr=False, compare=False)
    variant: str = ""  # the data set a model is checked on, when given

    @property
    def id(self) -> str:
        """``model:pacgan@digits:onnx``: the pytest id, stable across processes (pytest-xdist)."""
        variant = f"@{self.variant}" if self.variant else ""
        return f"{self.kind}:{self.entry}{variant}:{self.name}"

    def __call__(self) -> None:
        self.run()


def _fail(subject: str, check: str, problem: str, fix: str = "") -> ConformanceError:
    text = f"{subject} [{check}]: {problem}"
    if fix:
        text += f" -- fix: {fix}"
    return ConformanceError(" ".join(text.split()))


def _short(exc: BaseException) -> str:
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    first = first if len(first) <= 300 else first[:297] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# -- shared plumbing --------------------------------------------------------------------------------
_WORKDIR: Path | None = None
_CACHE: dict[tuple, Any] = {}


def _workdir() -> Path:
    """One temporary folder per process for tiny runs and exports, removed at exit."""
    global _WORKDIR
    if _WORKDIR is None or not _WORKDIR.exists():
        _WORKDIR = Path(tempfile.mkdtemp(prefix="ganzoo-testing-"))
        atexit.register(shutil.rmtree, _WORKDIR, ignore_errors=True)
    return _WORKDIR


def _registry(registry: Registry | None) -> Registry:
    return registry if registry is not None else get_registry()


@contextlib.contextmanager
def _quiet_torch() -> Iterator[Any]:
    """One CPU thread (tiny tensors: threads only add overhead and contend under pytest-xdist)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield torch
    finally:
        torch.set_num_threads(threads)


def _ref(registry: Registry, kind: str, spec: Any) -> str:
    """The short name when it is unambiguous, else the qualified ``plugin:name`` id."""
    same = [s for s in registry.list(kind) if s.name == spec.name]
    return spec.name if len(same) == 1 else spec.qualified_name


# -- models ---------------------------------------------------------------------------------------------
class _ModelCase:
    """Everything the checks of one model on one data set share: the resolved
    configuration, the data shape, builders for G and D, and the tiny training run."""

    def __init__(self, name: str, registry: Registry | None, dataset: str | None, batch_size: int, steps: int,
                 options: dict[str, Any] | None) -> None:
        self.name, self._registry, self.dataset = name, registry, dataset
        self.batch_size, self.steps, self.options = batch_size, steps, dict(options or {})
        self.subject = f"model '{name}'" + (f" on '{dataset}'" if dataset else "")

    @property
    def registry(self) -> Registry:
        return _registry(self._registry)

    def fail(self, check: str, problem: str, fix: str = "") -> ConformanceError:
        return _fail(self.subject, check, problem, fix)

    @property
    def spec(self) -> Any:
        try:
            return self.registry.model(self.name)
        except GanzooError as exc:
            raise self.fail("spec", str(exc),
                            "install the plugin (pip install -e .) and check the model name") from None

    def config(self, out: Path | None = None) -> Any:
        from ganzoo.engine.config import resolve

        spec = self.spec
        try:
            return resolve(self.name, self.registry, dataset=self.dataset or spec.dataset, steps=self.steps,
                           batch_size=self.batch_size, device="cpu", out=str(out or _workdir() / "unused"),
                           log_every=self.steps, sample_every=self.steps, ckpt_every=self.steps,
                           options=self.options)
        except GanzooError as exc:
            raise self.fail("spec", f"the spec does not resolve to a training configuration: {exc}",
                            "make loss, dataset, defaults and options name registered entries and valid values"
                            ) from None

    def data_info(self) -> tuple[tuple[int, ...], int]:
        """(sample shape, classes the model is built with), from the data set's spec when it
        declares them, otherwise from loading it once."""
        cfg = self.config()
        key = ("data", id(self.registry), cfg.dataset)
        if key not in _CACHE:
            ds_spec, arg = self.registry.dataset(cfg.dataset)
            shape, classes = ds_spec.shape, ds_spec.num_classes
            if shape is None or classes is None:
                from ganzoo.specs import resolve as resolve_target

                data = resolve_target(ds_spec.target)(arg=arg, data_dir=None, download=False, seed=0, image_size=None)
                shape, classes = data.shape, data.num_classes
            _CACHE[key] = (tuple(int(s) for s in shape), int(classes or 0))
        shape, classes = _CACHE[key]
        return shape, (classes if self.spec.conditional else 0)

    @property
    def translating(self) -> bool:
        return self.spec.task == "translate"

    def source_shape(self) -> tuple[int, ...]:
        """An image-to-image model's source shape, from the data set's spec or one load."""
        cfg = self.config()
        key = ("source", id(self.registry), cfg.dataset)
        if key not in _CACHE:
            ds_spec, arg = self.registry.dataset(cfg.dataset)
            shape = ds_spec.source_shape
            if shape is None:
                from ganzoo.specs import resolve as resolve_target

                data = resolve_target(ds_spec.target)(arg=arg, data_dir=None, download=False, seed=0, image_size=None)
                shape = data.source_shape
            if shape is None:
                raise self.fail("spec", f"data set '{cfg.dataset}' has no source images",
                                "give an image-to-image model a paired or unpaired data set")
            _CACHE[key] = tuple(int(s) for s in shape)
        return cast("tuple[int, ...]", _CACHE[key])

    def sources(self, n: int, seed: int = 0) -> Any:
        """A batch of ``n`` random source images in [-1, 1]."""
        import torch

        gen = torch.Generator().manual_seed(seed + 7)
        return torch.rand(n, *self.source_shape(), generator=gen) * 2 - 1

    def build(self, which: str, check: str, seed: int = 0) -> Any:
        """Call the generator or discriminator factory exactly as the engine does."""
        import torch
        from torch import nn

        from ganzoo.specs import resolve as resolve_target

        spec, cfg = self.spec, self.config()
        shape, classes = self.data_info()
        target = spec.generator if which == "generator" else spec.discriminator
        try:
            factory = resolve_target(target)
        except Exception as exc:
            raise self.fail(check, f"cannot import its {which} target {target!r}: {_short(exc)}",
                            "point the spec at an importable 'package.module:attr' in your package") from None
        torch.manual_seed(seed)
        extra = {"source_shape": self.source_shape()} if self.translating else {}
        call = (f"factory(shape={shape}, {''.join(f'{k}={v}, ' for k, v in extra.items())}num_classes={classes}, "
                f"latent_dim={cfg.latent_dim}, **{cfg.options})")
        try:
            module = factory(shape=shape, num_classes=classes, latent_dim=cfg.latent_dim, **extra, **cfg.options)
        except TypeError as exc:
            raise self.fail(check, f"the {which} factory failed as {call}: {_short(exc)}",
                            "factories are called with shape, num_classes, latent_dim and every key of the "
                            "spec's options as keywords; accept them all") from None
        except Exception as exc:
            raise self.fail(check, f"the {which} factory failed as {call}: {_short(exc)}") from None
        if not isinstance(module, nn.Module):
            raise self.fail(check, f"the {which} factory returned {type(module).__name__}",
                            "return a torch.nn.Module")
        return module

    def inputs(self, n: int, seed: int = 0) -> tuple[Any, Any, Any]:
        """(z, labels or None, a data-like batch x) for a batch of ``n``."""
        import torch

        shape, classes = self.data_info()
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.config().latent_dim, generator=gen)
        labels = torch.randint(0, classes, (n,), generator=gen) if classes else None
        x = torch.rand(n, *shape, generator=gen) * 2 - 1 if len(shape) == 3 else torch.randn(n, *shape, generator=gen)
        return z, labels, x

    def run(self) -> Path:
        """The tiny training run the later checks share (trained once per process)."""
        key = ("run", id(self.registry), self.name, self.dataset, self.batch_size, self.steps,
               json.dumps(self.options, sort_keys=True, default=str))
        if key not in _CACHE:
            try:
                _CACHE[key] = self._train()
            except ConformanceError as exc:
                _CACHE[key] = exc
        result = _CACHE[key]
        if isinstance(result, ConformanceError):
            raise result
        return result

    def _train(self) -> Path:
        from ganzoo.engine.train import Diverged, train

        out = Path(tempfile.mkdtemp(prefix="run-", dir=_workdir()))
        cfg = self.config(out)
        try:
            with _quiet_torch():
                train(cfg, quiet=True, registry=self.registry, echo=lambda message: None)
        except Diverged as exc:
            raise self.fail("training", f"losses became NaN or infinite within {self.steps} steps ({exc})",
                            "discriminators return raw logits (no sigmoid: the losses apply it), check the "
                            "learning rates in the spec's defaults and divisions or logs in forward") from None
        except GanzooError as exc:
            raise self.fail("training", f"the shared training loop stopped: {exc}") from None
        except Exception as exc:
            raise self.fail("training", f"the shared training loop raised {_short(exc)}",
                            "run `ganzoo train` with these settings to see the traceback") from None
        return out


def _check_model_spec(case: _ModelCase) -> None:
    spec, registry = case.spec, case.registry
    _check_spec_text(case, spec)
    _check_spec_targets(case, spec)
    for kind, name in (("loss", spec.loss), ("dataset", spec.dataset)):
        try:
            registry.dataset(name) if kind == "dataset" else registry.get(kind, name)
        except GanzooError as exc:
            raise case.fail("spec", f"its default {kind}: {exc}", f"use a registered {kind} (ganzoo list)") from None
    default_kind = registry.dataset(spec.dataset)[0].kind
    if not spec.takes(default_kind):
        raise case.fail("spec", f"its default data set '{spec.dataset}' holds {default_kind}, which its data_kinds "
                        f"{spec.data_kinds} leave out", "choose a default data set of a kind the model takes")
    for defaults in (spec.defaults, spec.point_defaults):
        if defaults is not None:
            _check_spec_defaults(case, defaults, registry)
    _check_spec_options(case, spec.options)
    if spec.conditional:
        ds_spec, _ = registry.dataset(spec.dataset)
        if ds_spec.num_classes == 0:
            raise case.fail("spec", f"it is conditional but its default data set '{spec.dataset}' has no labels",
                            "choose a labelled default data set")
    case.config()


def _check_spec_text(case: _ModelCase, spec: Any) -> None:
    """The summary is one short line and the paper is cited."""
    if not spec.summary.strip() or "\n" in spec.summary or len(spec.summary) > 120:
        raise case.fail("spec", f"summary {spec.summary!r} is empty, several lines or longer than 120 characters",
                        "give one line that `ganzoo list` can show")
    if not spec.paper.strip():
        raise case.fail("spec", "paper is empty", "cite the paper, e.g. paper='Lin et al. 2018, PacGAN: ...'")


def _check_spec_targets(case: _ModelCase, spec: Any) -> None:
    """The generator and discriminator targets import and are callable."""
    from ganzoo.specs import resolve as resolve_target

    for which in ("generator", "discriminator"):
        target = getattr(spec, which)
        if isinstance(target, str) and target.count(":") != 1:
            raise case.fail("spec", f"{which} target {target!r} is not 'package.module:attr'",
                            "name the factory like 'my_plugin.models:generator'")
        try:
            factory = resolve_target(target)
        except Exception as exc:
            raise case.fail("spec", f"cannot import the {which} target {target!r}: {_short(exc)}",
                            "check the module path and that the package is installed") from None
        if not callable(factory):
            raise case.fail("spec", f"the {which} target {target!r} is not callable", "point it at a class or function")


def _check_spec_defaults(case: _ModelCase, d: Any, registry: Registry) -> None:
    """Positive step counts and learning rates, Adam betas in [0, 1), registered regularizers."""
    for attr in ("latent_dim", "batch_size", "n_critic", "steps"):
        value = getattr(d, attr)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise case.fail("spec", f"defaults.{attr} is {value!r}", "use a positive integer")
    for attr in ("lr_g", "lr_d"):
        if not isinstance(getattr(d, attr), (int, float)) or not getattr(d, attr) > 0:
            raise case.fail("spec", f"defaults.{attr} is {getattr(d, attr)!r}", "use a positive number such as 2e-4")
    if len(d.betas) != 2 or not all(0 <= b < 1 for b in d.betas):
        raise case.fail("spec", f"defaults.betas is {d.betas!r}", "use two numbers in [0, 1) such as (0.5, 0.999)")
    for item in (*d.reg, *case.spec.terms):
        try:
            parse_reg(item, registry)
        except GanzooError as exc:
            raise case.fail("spec", f"regularizer entry {item!r}: {exc}", "name a registered regularizer") from None


def _check_spec_options(case: _ModelCase, options: dict[str, Any]) -> None:
    """Option names are keywords the factories can take; their values survive config.json."""
    for key, value in options.items():
        if not key.isidentifier():
            raise case.fail("spec", f"option {key!r} is not a Python identifier",
                            "options are passed to the factories as keywords; use names like hidden_dim")
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise case.fail("spec", f"option {key!r} = {value!r} is not JSON",
                            "options are stored in config.json and set with --set key=JSON; use numbers, "
                            "strings, booleans, None or lists of them") from None


def _codes(G: Any, n: int, seed: int = 0) -> dict[str, Any]:
    """Valid latent codes for a coded generator (InfoGAN), seeded; {} otherwise."""
    import torch

    from ganzoo.api import sample_codes

    return sample_codes(G, n, generator=torch.Generator().manual_seed(seed))


def _first(codes: dict[str, Any]) -> dict[str, Any]:
    return {k: v[:1] for k, v in codes.items()}


def _check_codes(case: _ModelCase, G: Any) -> None:
    from ganzoo.api import Code

    codes = codes_of(G)
    bad = [c for c in codes if not isinstance(c, Code)]
    if bad:
        raise case.fail("generator", f"codes holds {type(bad[0]).__name__}, not ganzoo.api.Code",
                        "describe each latent code as Code(name, 'categorical', size=K) or Code(name, 'continuous')")
    names = [c.name for c in codes]
    if len(set(names)) != len(names) or {"z", "labels", "images"} & set(names):
        raise case.fail("generator", f"code names {names} repeat or clash with z/labels/images",
                        "give each code its own name, such as c1, c2")


def _check_generator(case: _ModelCase) -> None:
    if case.translating:
        _check_translator(case)
        return
    with _quiet_torch():
        G = case.build("generator", "generator")
        cfg = case.config()
        shape, classes = case.data_info()
        _check_generator_attributes(case, G, cfg.latent_dim, shape, classes)
        _check_codes(case, G)
        n = case.batch_size
        z, labels, _ = case.inputs(n)
        codes = _codes(G, n)
        G.train()
        try:
            out = generate(G, z, labels, codes)
        except Exception as exc:
            raise case.fail("generator", f"forward(z [{n}, {cfg.latent_dim}], labels) raised {_short(exc)}") from None
        _check_tensor(case, "generator", out, (n, *shape), "forward in train mode")
        G.eval()
        a = _check_eval_forward(case, G, z, labels, codes, shape)
        _check_batch_independence(case, G, z, labels, codes, a, shape)
        _check_inputs_matter(case, G, z, labels, codes, classes, a)


def _check_translator(case: _ModelCase) -> None:
    """An image-to-image generator (each of its directions): its attributes and output shape
    (the engine's own check), then in eval mode: deterministic, in [-1, 1], a source's
    translation independent of its batch, and the source matters."""
    from ganzoo.api import direction, directions
    from ganzoo.engine.build import check_translator

    with _quiet_torch() as torch:
        G = case.build("generator", "generator")
        shape, n = case.data_info()[0], case.batch_size
        try:
            check_translator(G, case.source_shape(), shape, n, "the generator")
        except GanzooError as exc:
            raise case.fail("generator", str(exc).removeprefix("the generator: ")) from None
        names = directions(G) or ("",)
        for name in names[:2]:
            net = direction(G, name or None).eval()
            src = case.sources(n) if name == names[0] else torch.rand(n, *shape) * 2 - 1
            what = f"direction '{name}'" if name else "forward"
            with torch.no_grad():
                rng = torch.get_rng_state()
                a, b = net(src), net(src)
                if not torch.equal(rng, torch.get_rng_state()) or not torch.equal(a, b):
                    raise case.fail("generator", f"{what} in eval mode draws random numbers or repeats itself "
                                    "inexactly", "use noise (dropout) in training mode only: exports are deterministic")
                if a.min() < -1 - 1e-6 or a.max() > 1 + 1e-6:
                    raise case.fail("generator", f"{what} ranges over [{a.min():.3g}, {a.max():.3g}]",
                                    "images live in [-1, 1]: end the generator with torch.tanh")
                if not torch.allclose(net(src[:1]), a[:1], atol=BATCH_TOLERANCE, rtol=1e-4):
                    raise case.fail("generator", f"in eval mode {what}'s translation of an image depends on the rest "
                                    "of its batch", "normalise per image (InstanceNorm), not per batch")
                if torch.allclose(net(-src), a):
                    raise case.fail("generator", f"{what} ignores its source image", "translate the source")


def _check_generator_attributes(case: _ModelCase, G: Any, latent_dim: int, shape: tuple[int, ...],
                                classes: int) -> None:
    """latent_dim, num_classes and output_shape exist and echo what the factory was given."""
    fail = case.fail
    for attr in ("latent_dim", "num_classes", "output_shape"):
        if not hasattr(G, attr):
            raise fail("generator", f"{type(G).__name__} has no attribute '{attr}'",
                       "set self.latent_dim, self.num_classes and self.output_shape in __init__ (docs/plugins.md)")
    if G.latent_dim != latent_dim or not isinstance(G.latent_dim, int):
        raise fail("generator", f"latent_dim is {G.latent_dim!r} but the factory got latent_dim={latent_dim}",
                   "store the latent_dim argument and build the first layer from it")
    if G.num_classes != classes:
        raise fail("generator", f"num_classes is {G.num_classes!r} but the factory got num_classes={classes}",
                   "store the num_classes argument (0 for unconditional models)")
    if tuple(G.output_shape) != shape:
        raise fail("generator", f"output_shape is {tuple(G.output_shape)} but the data is {shape}",
                   "set output_shape from the shape argument")


def _check_eval_forward(case: _ModelCase, G: Any, z: Any, labels: Any, codes: dict[str, Any],
                        shape: tuple[int, ...]) -> Any:
    """In eval mode forward leaves z alone, draws no random numbers, repeats itself exactly and
    keeps images in [-1, 1]. Returns its output on the batch."""
    import torch

    fail = case.fail
    z_before = z.clone()
    with torch.no_grad():
        rng = torch.get_rng_state()
        a = generate(G, z, labels, codes)
        rng_moved = not torch.equal(rng, torch.get_rng_state())
        b = generate(G, z, labels, codes)
    if not torch.equal(z, z_before):
        raise fail("generator", "forward changed its input z in place", "do not modify z; work on new tensors")
    if rng_moved:
        raise fail("generator", "forward draws random numbers in eval mode (the torch RNG advanced)",
                   "take all noise from the input z; randomness inside forward cannot be exported to ONNX")
    if not torch.equal(a, b):
        raise fail("generator", "two eval-mode calls on the same z differ",
                   "make forward deterministic in eval mode: all noise comes from z")
    _check_tensor(case, "generator", a, (len(z), *shape), "forward in eval mode")
    if len(shape) == 3 and (a.min() < -1 - 1e-6 or a.max() > 1 + 1e-6):
        raise fail("generator", f"images range over [{a.min():.3g}, {a.max():.3g}]",
                   "images live in [-1, 1]: end the generator with torch.tanh")
    return a


def _check_batch_independence(case: _ModelCase, G: Any, z: Any, labels: Any, codes: dict[str, Any], a: Any,
                              shape: tuple[int, ...]) -> None:
    """In eval mode the first sample alone equals the first sample of the batch ``a``."""
    import torch

    with torch.no_grad():
        try:
            one = generate(G, z[:1], labels[:1] if labels is not None else None, _first(codes))
        except Exception as exc:
            raise case.fail("generator", f"forward fails on a batch of 1: {_short(exc)}",
                            "support any batch size in eval mode (ONNX verification runs batch 1, 7 and 64)") from None
    if tuple(one.shape) != (1, *shape) or not torch.allclose(one, a[:1], atol=BATCH_TOLERANCE, rtol=1e-4):
        raise case.fail("generator", "in eval mode a sample depends on the rest of its batch",
                        "sample i must depend only on z[i] (and labels[i]); do not use batch statistics in eval mode")


def _check_inputs_matter(case: _ModelCase, G: Any, z: Any, labels: Any, codes: dict[str, Any], classes: int,
                         a: Any) -> None:
    """Labels (conditional models) and categorical codes change the output ``a``; unconditional
    models run without labels."""
    import torch

    fail = case.fail
    with torch.no_grad():
        if classes:
            other = generate(G, z, (labels + 1) % classes, codes)
            if torch.allclose(other, a):
                raise fail("generator", "changing the labels does not change the output",
                           "feed the labels into the network (e.g. an nn.Embedding concatenated to z), or "
                           "register the model with conditional=False")
        else:
            try:
                plain = G(z, codes=codes) if codes else G(z)
            except Exception as exc:
                raise fail("generator", f"forward(z) without labels raised {_short(exc)}",
                           "give forward the signature forward(self, z, labels=None)") from None
            if not torch.equal(plain, a):
                raise fail("generator", "forward(z) and forward(z, None) differ", "ignore labels=None")
        for code in getattr(G, "codes", ()) or ():
            if code.kind == "categorical":
                moved = dict(codes, **{code.name: (codes[code.name] + 1) % code.size})
                if torch.allclose(generate(G, z, labels, moved), a):
                    raise fail("generator", f"changing code '{code.name}' does not change the output",
                               "feed every code into the network (one-hot for categorical codes)")


def _check_tensor(case: _ModelCase, check: str, out: Any, want: tuple[int, ...], what: str) -> None:
    import torch

    if not isinstance(out, torch.Tensor):
        raise case.fail(check, f"{what} returned {type(out).__name__}", "return a single tensor")
    if tuple(out.shape) != want:
        hint = "return [N] logits, e.g. out.squeeze(1)" if check == "discriminator" and tuple(out.shape) == (
            *want, 1) else f"return a tensor of shape {list(want)}"
        raise case.fail(check, f"{what} returned shape {list(out.shape)}, expected {list(want)}", hint)
    if out.dtype != torch.float32:
        raise case.fail(check, f"{what} returned {out.dtype}", "return float32 (the engine's autocast handles bf16)")
    if not bool(torch.isfinite(out).all()):
        raise case.fail(check, f"{what} returned NaN or infinite values on a fresh model",
                        "check divisions, logs and square roots in forward")


def _check_discriminator(case: _ModelCase) -> None:
    if case.translating:
        _check_translation_discriminator(case)
        return
    with _quiet_torch() as torch:
        D = case.build("discriminator", "discriminator")
        n = case.batch_size
        z, labels, x = case.inputs(n)
        x.requires_grad_(True)
        D.train()
        try:
            out = D(x, labels)
        except Exception as exc:
            raise case.fail("discriminator", f"forward(x [{n}, ...], labels) raised {_short(exc)}",
                            "accept forward(self, x, labels=None) on a batch of real samples") from None
        _check_tensor(case, "discriminator", out, (n,), f"forward on a batch of {n}")
        out.sum().backward()
        if x.grad is None or not bool(torch.isfinite(x.grad).all()) or not bool(x.grad.abs().sum() > 0):
            raise case.fail("discriminator", "no finite, non-zero gradient reaches the input x",
                            "the generator learns only through D's input gradients: do not detach x or use "
                            "non-differentiable operations on it")
        heads = getattr(D, "heads", None)
        if callable(heads):
            with torch.no_grad():
                try:
                    out_heads = heads(x.detach(), labels)
                except Exception as exc:
                    raise case.fail("discriminator", f"heads(x, labels) raised {_short(exc)}") from None
            if not isinstance(out_heads, dict) or "logits" not in out_heads:
                raise case.fail("discriminator", f"heads() returned {type(out_heads).__name__} without 'logits'",
                                "return {'logits': [N], ...other heads} from one body pass")
            _check_tensor(case, "discriminator", out_heads["logits"], (n,), "heads()['logits']")
        G = case.build("generator", "discriminator")
        with torch.no_grad():
            fake = generate(G.eval(), z, labels, _codes(G, n))
        try:
            fake_out = D(fake, labels)
        except Exception as exc:
            raise case.fail("discriminator", f"forward on the generator's output raised {_short(exc)}",
                            "D must accept what G makes: [N, *output_shape]") from None
        _check_tensor(case, "discriminator", fake_out, (n,), "forward on generated samples")
        if labels is None:
            try:
                D(x.detach())
            except Exception as exc:
                raise case.fail("discriminator", f"forward(x) without labels raised {_short(exc)}",
                                "give forward the signature forward(self, x, labels=None)") from None


def _check_translation_discriminator(case: _ModelCase) -> None:
    """D(image, source): [N] logits or a map [N, h, w], with a gradient reaching the image."""
    with _quiet_torch() as torch:
        D = case.build("discriminator", "discriminator").train()
        n = case.batch_size
        _, _, x = case.inputs(n)
        x.requires_grad_(True)
        try:
            out = D(x, case.sources(n))
        except Exception as exc:
            raise case.fail("discriminator", f"forward(image [{n}, ...], source) raised {_short(exc)}",
                            "accept forward(self, x, source=None): the source is the condition") from None
        if not isinstance(out, torch.Tensor) or out.dim() not in (1, 3) or out.shape[0] != n \
                or out.dtype != torch.float32:
            got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise case.fail("discriminator", f"forward returned {got}",
                            "return float32 [N] logits or a map of logits [N, h, w] (PatchGAN)")
        out.sum().backward()
        if x.grad is None or not bool(torch.isfinite(x.grad).all()) or not bool(x.grad.abs().sum() > 0):
            raise case.fail("discriminator", "no finite, non-zero gradient reaches the image",
                            "the generator learns only through D's input gradients")


def _check_training(case: _ModelCase) -> None:
    run = case.run()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    if not rows or rows[-1].get("step") != case.steps:
        raise case.fail("training", f"the run logged {rows[-1:] or 'nothing'} instead of step {case.steps}")
    for row in rows:
        for key in ("d_loss", "g_loss"):
            if not math.isfinite(row.get(key, float("nan"))):
                raise case.fail("training", f"{key} is {row.get(key)} at step {row.get('step')}")
    if not (run / "checkpoint" / "generator.safetensors").is_file():
        raise case.fail("training", "the run has no checkpoint/generator.safetensors")


def _check_save_load(case: _ModelCase) -> None:
    from ganzoo.engine import checkpoint as ckpt
    from ganzoo.engine.build import load_generator

    if case.translating:
        _check_translation_save_load(case)
        return
    with _quiet_torch() as torch:
        modules = {ckpt.GENERATOR: case.build("generator", "save-load", seed=0),
                   ckpt.DISCRIMINATOR: case.build("discriminator", "save-load", seed=0)}
        z, labels, x = case.inputs(case.batch_size)
        with torch.no_grad():
            for module in modules.values():
                for p in module.parameters():
                    p.add_(torch.randn_like(p) * 0.01)  # trained weights, not the initial ones
            codes = _codes(modules[ckpt.GENERATOR], case.batch_size)
            generate(modules[ckpt.GENERATOR].train(), z, labels, codes)  # move BatchNorm statistics
            modules[ckpt.DISCRIMINATOR].train()(x, labels)
        where = Path(tempfile.mkdtemp(prefix="save-", dir=_workdir()))
        try:
            ckpt.save_checkpoint(where, modules, {"step": 0})
        except Exception as exc:
            raise case.fail("save-load", f"saving the state_dict as safetensors failed: {_short(exc)}",
                            "keep only tensors in state_dict (no Python objects in buffers)") from None
        fresh = {ckpt.GENERATOR: case.build("generator", "save-load", seed=1),
                 ckpt.DISCRIMINATOR: case.build("discriminator", "save-load", seed=1)}
        for filename, module in fresh.items():
            try:
                ckpt.load_weights(where / ckpt.CHECKPOINT / filename, module)
            except GanzooError as exc:
                raise case.fail("save-load", str(exc),
                                "build the same parameters and buffers whatever the seed") from None
        with torch.no_grad():
            if not torch.equal(generate(modules[ckpt.GENERATOR].eval(), z, labels, codes),
                               generate(modules[ckpt.GENERATOR], z, labels, codes)):
                raise case.fail("save-load", "the generator is not deterministic in eval mode, so a round trip "
                                "cannot be compared", "take all noise from z (see the generator check)")
            pairs = [("generator", generate(modules[ckpt.GENERATOR].eval(), z, labels, codes),
                      generate(fresh[ckpt.GENERATOR].eval(), z, labels, codes)),
                     ("discriminator", modules[ckpt.DISCRIMINATOR].eval()(x, labels),
                      fresh[ckpt.DISCRIMINATOR].eval()(x, labels))]
        for which, before, after in pairs:
            if not torch.equal(before, after):
                raise case.fail("save-load", f"the {which} computes something else after a safetensors round trip",
                                "keep every tensor that affects the output in a parameter or a persistent "
                                "buffer (register_buffer), not in a plain attribute")
        try:
            G, _, _ = load_generator(case.run(), registry=case.registry)
        except GanzooError as exc:
            raise case.fail("save-load", f"load_generator on the trained run failed: {exc}") from None
        if G.training:
            raise case.fail("save-load", "load_generator returned a generator in train mode")
        with torch.no_grad():
            _check_tensor(case, "save-load", generate(G, z, labels, codes), (case.batch_size, *case.data_info()[0]),
                          "the reloaded generator")


def _check_translation_save_load(case: _ModelCase) -> None:
    """Every network of an image-to-image model (all directions, all discriminators) survives
    a safetensors round trip, and the trained run's generator loads."""
    from ganzoo.engine import checkpoint as ckpt
    from ganzoo.engine.build import load_generator

    with _quiet_torch() as torch:
        G, D = case.build("generator", "save-load", seed=0), case.build("discriminator", "save-load", seed=0)
        with torch.no_grad():
            for module in (G, D):
                for p in module.parameters():
                    p.add_(torch.randn_like(p) * 0.01)
        where = Path(tempfile.mkdtemp(prefix="save-", dir=_workdir()))
        ckpt.save_checkpoint(where, {ckpt.GENERATOR: G, ckpt.DISCRIMINATOR: D}, {"step": 0})
        fresh_G, fresh_D = case.build("generator", "save-load", seed=1), case.build("discriminator", "save-load", 1)
        for filename, module in ((ckpt.GENERATOR, fresh_G), (ckpt.DISCRIMINATOR, fresh_D)):
            try:
                ckpt.load_weights(where / ckpt.CHECKPOINT / filename, module)
            except GanzooError as exc:
                raise case.fail("save-load", str(exc),
                                "build the same parameters and buffers whatever the seed") from None
        src, _, x = case.sources(case.batch_size), None, case.inputs(case.batch_size)[2]
        with torch.no_grad():
            same = torch.equal(G.eval()(src), fresh_G.eval()(src)) and torch.equal(D.eval()(x, src),
                                                                                    fresh_D.eval()(x, src))
        if not same:
            raise case.fail("save-load", "a network computes something else after a safetensors round trip",
                            "keep every tensor that affects the output in a parameter or a persistent buffer")
        try:
            loaded, _, _ = load_generator(case.run(), registry=case.registry)
        except GanzooError as exc:
            raise case.fail("save-load", f"load_generator on the trained run failed: {exc}") from None
        if loaded.training:
            raise case.fail("save-load", "load_generator returned a generator in train mode")


def _check_onnx(case: _ModelCase) -> None:
    from ganzoo.onnx import runtime
    from ganzoo.onnx.export import export_run

    run = case.run()
    if case.translating:
        with _quiet_torch():
            try:
                result = export_run(run, output=run.parent / f"{run.name}.onnx", verify=True, registry=case.registry)
            except GanzooError as exc:
                raise case.fail("onnx", f"verified export failed: {exc}",
                                "see docs/plugins.md, \"Image-to-image models\" (fully convolutional, sizes from the "
                                "tensors, no noise in eval mode); reproduce with: ganzoo export RUN_DIR --onnx"
                                ) from None
        if not result.verified or len(result.max_abs_diff) < 3:
            raise case.fail("onnx", "the export was not verified at several sizes")
        return
    path = run.parent / f"{run.name}.onnx"
    with _quiet_torch():
        try:
            result = export_run(run, output=path, verify=True, registry=case.registry)
        except GanzooError as exc:
            raise case.fail("onnx", f"verified export failed: {exc}",
                            "see docs/plugins.md §2 (noise comes from z, eval mode matches PyTorch, dynamic batch); "
                            "reproduce with: ganzoo export RUN_DIR --onnx") from None
    if not result.verified:
        raise case.fail("onnx", "the export was not verified")
    shape, _ = case.data_info()
    model = runtime.load(str(path), provider="cpu")
    sample = model.sample(5, seed=0)
    if tuple(sample.shape) != (5, *shape):
        raise case.fail("onnx", f"onnxruntime returned {list(sample.shape)} for 5 samples, expected {[5, *shape]}")


_MODEL_RUNNERS: dict[str, Callable[[_ModelCase], None]] = {
    "spec": _check_model_spec, "generator": _check_generator, "discriminator": _check_discriminator,
    "training": _check_training, "save-load": _check_save_load, "onnx": _check_onnx,
}


def model_checks(name: str, registry: Registry | None = None, *, dataset: str | None = None,
                 batch_size: int = BATCH, steps: int = STEPS, options: dict[str, Any] | None = None) -> list[Check]:
    """The checks of one model, in order: spec, generator, discriminator, training,
    save-load, onnx. ``dataset`` defaults to the model's own; ``options`` overrides
    some of its options (as ``--set`` would)."""
    if batch_size < 1 or steps < 1:
        raise GanzooError(f"batch_size and steps must be positive, got {batch_size} and {steps}")
    case = _ModelCase(name, registry, dataset, batch_size, steps, options)
    return [Check("model", name, check, _bind(_MODEL_RUNNERS[check], case), dataset or "") for check in MODEL_CHECKS]


def _bind(func: Callable[[Any], None], case: Any) -> Callable[[], None]:
    def run() -> None:
        func(case)

    return run


# -- losses and regularizers ------------------------------------------------------------------------------
def _check_common_spec(subject: str, spec: Any, target: Any, what: str) -> Any:
    from ganzoo.specs import resolve as resolve_target

    if not spec.summary.strip() or "\n" in spec.summary or len(spec.summary) > 120:
        raise _fail(subject, "spec", f"summary {spec.summary!r} is empty, several lines or longer than 120 characters",
                    "give one line that `ganzoo list` can show")
    try:
        return resolve_target(target)
    except Exception as exc:
        raise _fail(subject, "spec", f"cannot import its target {target!r}: {_short(exc)}",
                    f"point target at the {what} as 'package.module:attr'") from None


def _entry_spec(kind: str, name: str, registry: Registry | None) -> tuple[str, Any]:
    """(``"<kind> '<name>'"``, its spec) for a loss or regularizer, or a kit failure naming the fix."""
    subject = f"{kind} '{name}'"
    try:
        return subject, _registry(registry).get(kind, name)
    except GanzooError as exc:
        raise _fail(subject, "spec", str(exc), "install the plugin and check the name") from None


def _check_loss_spec(name: str, registry: Registry | None) -> None:
    subject, spec = _entry_spec("loss", name, registry)
    if not callable(_check_common_spec(subject, spec, spec.target, "loss class")):
        raise _fail(subject, "spec", f"target {spec.target!r} is not callable", "point it at the loss class")


def _check_loss_contract(name: str, registry: Registry | None) -> None:
    subject, spec = _entry_spec("loss", name, registry)
    factory = _check_common_spec(subject, spec, spec.target, "loss class")
    with _quiet_torch() as torch:
        try:
            loss = factory()
        except Exception as exc:
            raise _fail(subject, "contract", f"target() raised {_short(exc)}",
                        "the target is called without arguments and returns the loss object") from None
        if isinstance(loss, Objective):
            _check_objective(subject, loss)
            return
        for method in ("d_loss", "g_loss"):
            if not callable(getattr(loss, method, None)):
                raise _fail(subject, "contract", f"{type(loss).__name__} has no method {method}",
                            "define d_loss(real_logits, fake_logits) and g_loss(fake_logits), or subclass "
                            "ganzoo.api.Objective (docs/plugins.md, 'Write a new GAN objective')")
        gen = torch.Generator().manual_seed(0)
        for n in (BATCH, 1):
            real = torch.randn(n, generator=gen).requires_grad_(True)
            fake = torch.randn(n, generator=gen).requires_grad_(True)
            d = _scalar(subject, loss.d_loss(real, fake), "d_loss")
            d.backward()
            for which, t in (("real", real), ("fake", fake)):
                if t.grad is None or not bool(torch.isfinite(t.grad).all()) or not bool(t.grad.abs().sum() > 0):
                    raise _fail(subject, "contract", f"d_loss gives no finite gradient to the {which} logits",
                                "compute the loss from both logit tensors with differentiable operations")
            fake2 = torch.randn(n, generator=gen).requires_grad_(True)
            g = _scalar(subject, loss.g_loss(fake2), "g_loss")
            g.backward()
            if fake2.grad is None or not bool(torch.isfinite(fake2.grad).all()) or not bool(fake2.grad.abs().sum() > 0):
                raise _fail(subject, "contract", "g_loss gives no finite gradient to the fake logits",
                            "compute it from fake_logits with differentiable operations")
        up, down = torch.full((BATCH,), 2.0), torch.full((BATCH,), -2.0)
        with torch.no_grad():
            right, wrong = float(loss.d_loss(up, down)), float(loss.d_loss(down, up))
            fooled, caught = float(loss.g_loss(up)), float(loss.g_loss(down))
        if not right < wrong:
            raise _fail(subject, "contract", f"d_loss is {right:.3g} when D is right (real +2, fake -2) and "
                        f"{wrong:.3g} when it is wrong", "higher logits mean 'more real'; D minimises d_loss")
        if not fooled < caught:
            raise _fail(subject, "contract", f"g_loss is {fooled:.3g} when D calls fakes real (+2) and {caught:.3g} "
                        "when it calls them fake (-2)", "higher logits mean 'more real'; G minimises g_loss")


def _scalar(subject: str, value: Any, what: str) -> Any:
    import torch

    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        got = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise _fail(subject, "contract", f"{what} returned {got}, not a scalar tensor", "reduce with .mean()")
    if not bool(torch.isfinite(value)):
        raise _fail(subject, "contract", f"{what} is {float(value)} on ordinary logits",
                    "work on raw logits with stable forms such as F.softplus instead of log(sigmoid(x))")
    return value


def _check_objective(subject: str, objective: Any) -> None:
    """What can be checked without a run: extra modules where the loop looks for them, and
    state that a checkpoint can restore (the training check runs the rest)."""
    import io

    import torch

    for attr in ("d_modules", "g_modules"):
        modules = getattr(objective, attr, None)
        if not isinstance(modules, dict):
            raise _fail(subject, "contract", f"{attr} is {type(modules).__name__}, not a dict",
                        "call super().__init__() and keep extra networks in self.d_modules / self.g_modules")
    buffer = io.BytesIO()
    try:
        torch.save(objective.state_dict(), buffer)
        buffer.seek(0)
        torch.load(buffer, weights_only=True)
    except Exception as exc:
        raise _fail(subject, "contract", f"state_dict() cannot be checkpointed safely: {_short(exc)}",
                    "return only tensors, numbers, strings, lists and dicts of them") from None


def _check_in_loop(kind: str, name: str, registry: Registry | None, model: str | None = None,
                   dataset: str | None = None) -> None:
    """Three steps of the shared loop with this loss or regularizer, saved after two and
    resumed: the documented contract must never crash ``ganzoo train``, and every term it
    adds must be logged finite. It runs with ``model`` (default: a model whose spec uses
    it, else vanilla on ring8)."""
    from ganzoo.engine.config import resolve
    from ganzoo.engine.train import train

    subject, spec = _entry_spec(kind, name, registry)
    reg = _registry(registry)
    uses_it = model is None
    if model is None and kind == "loss":
        model = next((_ref(reg, "model", m) for m in reg.list("model") if _resolves(reg, "loss", m.loss, spec)), None)
    elif model is None:
        model = _model_using(reg, name)
    uses_it = uses_it and model is not None
    overrides: dict[str, Any] = {"dataset": dataset} if dataset else ({} if model else {"dataset": "ring8"})
    if kind == "loss":
        overrides["loss"] = spec.qualified_name
    elif not uses_it:
        overrides["reg"] = [f"{spec.qualified_name}:{spec.default_weight}"]
    out = Path(tempfile.mkdtemp(prefix="objective-", dir=_workdir())) / "run"
    where = f"in `ganzoo train {model or 'vanilla'}`"
    with _quiet_torch():
        try:
            cfg = resolve(model or "vanilla", reg, steps=2, batch_size=BATCH, device="cpu", out=str(out),
                          log_every=1, sample_every=100, ckpt_every=2, **overrides)
            train(cfg, quiet=True, registry=reg, echo=lambda message: None)
            cfg.steps = 3
            train(cfg, resume=True, quiet=True, registry=reg, echo=lambda message: None)
            cfg.out = str(out.parent / "straight")
            train(cfg, quiet=True, registry=reg, echo=lambda message: None)
        except GanzooError as exc:
            fix = ""
            if "both add a term" in str(exc):
                fix = (f"rename the term, or check it with a model whose defaults add no such term: model= and "
                       f"dataset= of {kind}_checks() and check_{kind}(), objective_model= and objective_dataset= of "
                       "checks() and parametrize_with_checks()")
            raise _fail(subject, "training", f"{where} stopped: {exc}", fix) from None
        except Exception as exc:
            raise _fail(subject, "training", f"{where} raised {_short(exc)}",
                        "run that command with GANZOO_STRICT_PLUGINS=1 to see the traceback") from None
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    terms = {k for r in rows for k in r if k.startswith(("d/", "g/"))}
    if [r.get("step") for r in rows] != [1, 2, 3] or not terms:
        raise _fail(subject, "training", f"{where} logged {rows} instead of steps 1-3 with named terms")
    _check_state_restored(subject, where, out, out.parent / "straight")


def _objective_states(run: Path) -> list[Any]:
    import torch

    return list(torch.load(run / "checkpoint" / "state.pt", weights_only=True).get("objectives") or [])


def _same_state(a: Any, b: Any) -> bool:
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and bool(torch.allclose(a.float(), b.float(), rtol=1e-5, atol=1e-7))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _check_state_restored(subject: str, where: str, resumed: Path, straight: Path) -> None:
    """Objective state (an equilibrium constant, an augmentation probability) must come back
    on ``--resume``: saved after 2 steps and resumed to 3, it must equal an unbroken 3-step
    run's. Saving it is not enough; a state that restarts from its initial value on resume
    silently changes the run."""
    got, want = _objective_states(resumed), _objective_states(straight)
    if not _same_state(got, want):
        raise _fail(subject, "training", f"{where}: the objective state after --resume ({_short_repr(got)}) differs "
                    f"from an uninterrupted run's ({_short_repr(want)})",
                    "load_state_dict(state) must restore everything state_dict() returned")


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _resolves(registry: Registry, kind: str, name: str, spec: Any) -> bool:
    try:
        return registry.get(kind, name) is spec
    except GanzooError:
        return False


def loss_checks(name: str, registry: Registry | None = None, *, model: str | None = None,
                dataset: str | None = None) -> list[Check]:
    """The checks of one loss: spec fields, the contract (scalars, gradients, signs; for an
    objective, its hooks and checkpointable state) and three steps of the shared loop."""
    return [Check("loss", name, "spec", lambda: _check_loss_spec(name, registry)),
            Check("loss", name, "contract", lambda: _check_loss_contract(name, registry)),
            Check("loss", name, "training", lambda: _check_in_loop("loss", name, registry, model, dataset))]


class _ReferenceDiscriminator:
    """A small MLP critic on 2-D points for regularizers that no model of the registry uses."""

    @staticmethod
    def build() -> Any:
        from torch import nn

        class Critic(nn.Module):
            num_classes = 0

            def __init__(self) -> None:
                super().__init__()
                self.net = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))

            def forward(self, x: Any, labels: Any = None) -> Any:
                return self.net(x).squeeze(1)

        return Critic()


def _check_reg_spec(name: str, registry: Registry | None) -> None:
    subject, spec = _entry_spec("regularizer", name, registry)
    _check_common_spec(subject, spec, spec.target, "regularizer class")
    if not isinstance(spec.default_weight, (int, float)) or spec.default_weight < 0:
        raise _fail(subject, "spec", f"default_weight is {spec.default_weight!r}", "use a number >= 0")


def _model_using(registry: Registry, reg_name: str) -> str | None:
    """A model whose defaults use this regularizer: its discriminator is what the term expects."""
    want = registry.regularizer(reg_name)
    for spec in registry.list("model"):
        for item in (*spec.terms, *spec.defaults.reg):
            try:
                if parse_reg(item, registry)[0] is want:
                    return _ref(registry, "model", spec)
            except GanzooError:
                continue
    return None


def _check_reg_contract(name: str, registry: Registry | None, model: str | None = None) -> None:
    subject, spec = _entry_spec("regularizer", name, registry)
    factory = _check_common_spec(subject, spec, spec.target, "regularizer class")
    reg = _registry(registry)
    model = model or _model_using(reg, name)
    with _quiet_torch() as torch:
        try:
            term = factory(spec.default_weight)
        except Exception as exc:
            raise _fail(subject, "contract", f"target(weight) raised {_short(exc)}",
                        "the target is called with the weight and returns the regularizer") from None
        if isinstance(term, Objective):
            _check_objective(subject, term)
            return
        if model:
            case = _ModelCase(model, registry, None, BATCH, STEPS, None)
            D = case.build("discriminator", "contract")
            G = case.build("generator", "contract")
            z, labels, real = case.inputs(BATCH)
            with torch.no_grad():
                if case.translating:  # D is given the source where a class-conditional one gets labels
                    labels = case.sources(BATCH)
                    fake = G.eval()(labels)
                else:
                    fake = generate(G.eval(), z, labels, _codes(G, BATCH))
            where = f"with model '{model}'"
        else:
            D = _ReferenceDiscriminator.build()
            gen = torch.Generator().manual_seed(0)
            real, fake, labels = torch.randn(BATCH, 2, generator=gen), torch.randn(BATCH, 2, generator=gen), None
            where = "with a small MLP critic on 2-D points"
        for method in ("d_term", "g_term"):
            if not callable(getattr(term, method, None)):
                raise _fail(subject, "contract", f"{type(term).__name__} has no method {method}",
                            "define d_term(D, real, fake, labels) and g_term(D, fake, labels); return None from "
                            "the one you do not need")
        D.train()
        try:
            d = term.d_term(D, real, fake, labels)
        except Exception as exc:
            raise _fail(subject, "contract", f"d_term {where} raised {_short(exc)}") from None
        fake_g = fake.clone().requires_grad_(True)
        try:
            g = term.g_term(D, fake_g, labels)
        except Exception as exc:
            raise _fail(subject, "contract", f"g_term {where} raised {_short(exc)}") from None
        if d is None and g is None:
            raise _fail(subject, "contract", "both d_term and g_term returned None", "return a term from at least one")
        if d is not None:
            _scalar(subject, d, "d_term").backward()
            if not any(p.grad is not None for p in D.parameters()):
                raise _fail(subject, "contract", f"d_term {where} gives the discriminator no gradient",
                            "compute it from D's output with differentiable operations")
        if g is not None:
            _scalar(subject, g, "g_term")


def regularizer_checks(name: str, registry: Registry | None = None, *, model: str | None = None,
                       dataset: str | None = None) -> list[Check]:
    """The checks of one regularizer; its terms run against the discriminator of ``model``, or
    of a model whose spec uses it (so model-specific terms such as ACGAN's work), else a small critic."""
    return [Check("regularizer", name, "spec", lambda: _check_reg_spec(name, registry)),
            Check("regularizer", name, "contract", lambda: _check_reg_contract(name, registry, model)),
            Check("regularizer", name, "training",
                  lambda: _check_in_loop("regularizer", name, registry, model, dataset))]


# -- data sets ----------------------------------------------------------------------------------------------
def _dataset_spec(name: str, registry: Registry | None, arg: str | None) -> tuple[str, Any, str | None]:
    subject = f"dataset '{name}'"
    reg = _registry(registry)
    try:
        spec, parsed = reg.dataset(f"{name}:{arg}" if arg is not None else name)
    except GanzooError as exc:
        fix = "pass arg=... to check a data set that takes an argument" if "needs an argument" in str(exc) else \
            "install the plugin and check the name"
        raise _fail(subject, "spec", str(exc), fix) from None
    return subject, spec, parsed


def _load_dataset(name: str, registry: Registry | None, arg: str | None, check: str) -> Any:

    subject, spec, parsed = _dataset_spec(name, registry, arg)
    loader = _check_common_spec(subject, spec, spec.target, "loader function")
    with _quiet_torch():
        try:
            data = loader(arg=parsed, data_dir=None, download=False, seed=0, image_size=None)
            from ganzoo.data.files import ImageFiles

            return data.load() if isinstance(data, ImageFiles) else data  # checked decoded, like Data
        except TypeError as exc:
            raise _fail(subject, check, f"the loader failed: {_short(exc)}",
                        "loaders are called as loader(arg=..., data_dir=..., download=..., seed=..., "
                        "image_size=...); accept all five keywords") from None
        except Exception as exc:
            raise _fail(subject, check, f"the loader failed without network: {_short(exc)}",
                        "load offline (download only when download=True) and raise GanzooError with the fix "
                        "when files are missing") from None


def _check_dataset_spec(name: str, registry: Registry | None, arg: str | None) -> None:
    subject, spec, _ = _dataset_spec(name, registry, arg)
    _check_common_spec(subject, spec, spec.target, "loader function")
    if not spec.source.strip():
        raise _fail(subject, "spec", "source is empty", "say where the data comes from (bundled, URL, local files)")
    if spec.shape is not None and (not spec.shape or not all(isinstance(s, int) and s > 0 for s in spec.shape)):
        raise _fail(subject, "spec", f"shape is {spec.shape!r}", "give positive ints like (1, 28, 28) or (2,), or None")


def _first_load(name: str, registry: Registry | None, arg: str | None, check: str) -> Any:
    """The data set loaded once per process (the load and deterministic checks share it)."""
    key = ("dataset", id(_registry(registry)), name, arg)
    if key not in _CACHE:
        _CACHE[key] = _load_dataset(name, registry, arg, check)
    return _CACHE[key]


def _check_dataset_load(name: str, registry: Registry | None, arg: str | None) -> None:
    import torch

    from ganzoo.data import Data

    subject, spec, _ = _dataset_spec(name, registry, arg)
    data = _first_load(name, registry, arg, "load")
    if not isinstance(data, Data):
        raise _fail(subject, "load", f"the loader returned {type(data).__name__}", "return ganzoo.data.Data(...)")
    if len(data) < 1:
        raise _fail(subject, "load", "the data set is empty")
    if data.kind not in ("images", "points", "pairs", "domains"):
        raise _fail(subject, "load", f"kind is {data.kind!r}", "use kind='images', 'points', 'pairs' or 'domains'")
    if data.kind in ("pairs", "domains"):
        _check_translation_load(subject, spec, data)
    if len(data.shape) != (1 if data.kind == "points" else 3):
        what = ("points", "points are [N, D]") if data.kind == "points" else ("images", "images are [N, C, H, W]")
        raise _fail(subject, "load", f"{what[0]} of shape {list(data.shape)}", what[1])
    x = data.floats()
    if not bool(torch.isfinite(x).all()):
        raise _fail(subject, "load", "x holds NaN or infinite values")
    if data.kind != "points" and (x.min() < -1 - 1e-6 or x.max() > 1 + 1e-6):
        raise _fail(subject, "load", f"images range over [{x.min():.3g}, {x.max():.3g}]",
                    "give uint8 pixels 0..255, or float images scaled to [-1, 1] (x / 255 * 2 - 1)")
    if spec.shape is not None and tuple(spec.shape) != data.shape:
        raise _fail(subject, "load", f"the spec says shape {tuple(spec.shape)}, the data is {data.shape}",
                    "make DatasetSpec.shape match, or set it to None when it depends on the argument")
    if spec.num_classes is not None and spec.num_classes != data.num_classes:
        raise _fail(subject, "load", f"the spec says {spec.num_classes} classes, the data has {data.num_classes}",
                    "make DatasetSpec.num_classes match")
    if data.num_classes:
        if data.y is None or data.y.dtype != torch.int64 or data.y.shape != (len(data),):
            raise _fail(subject, "load", f"{data.num_classes} classes but labels are not int64 [N]",
                        "give y as int64 [N], or num_classes=0 and y=None")
        if int(data.y.min()) < 0 or int(data.y.max()) >= data.num_classes:
            raise _fail(subject, "load", f"labels range over [{int(data.y.min())}, {int(data.y.max())}]",
                        f"labels lie in [0, {data.num_classes})")
    elif data.y is not None:
        raise _fail(subject, "load", "labels y are given but num_classes is 0", "set num_classes or drop y")
    if data.modes is not None and (data.modes.dim() != 2 or data.modes.shape[1] != data.shape[0]
                                   or not data.sigma or data.sigma <= 0):
        raise _fail(subject, "load", "mixture modes must be [K, D] with a positive sigma",
                    "give modes [K, D] and sigma > 0, or neither")


def _check_translation_load(subject: str, spec: Any, data: Any) -> None:
    """A translation set's source images, their labels and its held-out block (API 1.6)."""
    import torch

    from ganzoo.data import to_float

    wanted = "pairs" if spec.pairing == "paired" else ("domains" if spec.pairing == "unpaired" else "")
    if wanted != data.kind:
        raise _fail(subject, "load", f"the spec says pairing {spec.pairing!r}, the data's kind is {data.kind!r}",
                    "set DatasetSpec.pairing to 'paired' for kind 'pairs', 'unpaired' for kind 'domains'")
    source = data.source
    if source is None or source.dim() != 4 or len(source) < 1:
        raise _fail(subject, "load", "source images are missing or not [M, C, H, W]", "give source as [M, C, H, W]")
    s = to_float(source)
    if not bool(torch.isfinite(s).all()) or s.min() < -1 - 1e-6 or s.max() > 1 + 1e-6:
        raise _fail(subject, "load", "source images hold values outside [-1, 1] (or NaN)",
                    "give uint8 pixels 0..255, or float images scaled to [-1, 1]")
    if spec.source_shape is not None and tuple(spec.source_shape) != tuple(source.shape[1:]):
        raise _fail(subject, "load", f"the spec says source_shape {tuple(spec.source_shape)}, the data's is "
                    f"{tuple(source.shape[1:])}", "make DatasetSpec.source_shape match, or set it to None")
    labels = data.source_y
    if labels is not None and (data.kind != "domains" or labels.shape != (len(source),) or (
            data.num_classes and (int(labels.min()) < 0 or int(labels.max()) >= data.num_classes))):
        raise _fail(subject, "load", "source_y must be int64 [M] labels in [0, num_classes), unpaired sets only",
                    "give source_y for kind 'domains' only, one label per source image")


def _check_dataset_deterministic(name: str, registry: Registry | None, arg: str | None) -> None:
    import torch

    subject, _, _ = _dataset_spec(name, registry, arg)
    a = _first_load(name, registry, arg, "deterministic")
    b = _load_dataset(name, registry, arg, "deterministic")
    if not hasattr(a, "x") or not hasattr(b, "x"):
        raise _fail(subject, "deterministic", f"the loader returned {type(b).__name__}", "return ganzoo.data.Data(...)")
    same = a.x.shape == b.x.shape and torch.equal(a.x, b.x) and (
        (a.y is None and b.y is None) or (a.y is not None and b.y is not None and torch.equal(a.y, b.y))) and (
        getattr(a, "source", None) is None and getattr(b, "source", None) is None
        or (a.source is not None and b.source is not None and a.source.shape == b.source.shape
            and torch.equal(a.source, b.source) and a.held_out == b.held_out))
    if not same:
        raise _fail(subject, "deterministic", "two loads with seed=0 differ",
                    "draw any randomness from torch.Generator().manual_seed(seed): resuming and "
                    "`ganzoo eval` rely on the same data for the same seed")


def dataset_checks(name: str, registry: Registry | None = None, *, arg: str | None = None) -> list[Check]:
    """The checks of one data set, loaded offline with seed 0 (``arg`` for ``name:ARG`` data sets)."""
    variant = arg or ""
    return [Check("dataset", name, "spec", lambda: _check_dataset_spec(name, registry, arg), variant),
            Check("dataset", name, "load", lambda: _check_dataset_load(name, registry, arg), variant),
            Check("dataset", name, "deterministic", lambda: _check_dataset_deterministic(name, registry, arg), variant)]


# -- plugins --------------------------------------------------------------------------------------------------
def _plugin_info(name: str, registry: Registry | None) -> Any:
    reg = _registry(registry)
    subject = f"plugin '{name}'"
    found = next((p for p in reg.plugins if p.name == name), None)
    if found is not None:
        return found
    failure = next((f for f in reg.failures if f.plugin == name), None)
    if failure is not None:
        raise _fail(subject, "loaded", f"it failed to load during {failure.phase}: {failure.error}",
                    "run `GANZOO_STRICT_PLUGINS=1 ganzoo list` to see the traceback")
    if name in reg.disabled:
        raise _fail(subject, "loaded", "it is switched off by GANZOO_PLUGINS / GANZOO_DISABLE_PLUGINS",
                    "unset those variables for the test run")
    raise _fail(subject, "loaded", "no plugin of that name is registered",
                f"pip install -e . the package, and declare [project.entry-points.ganzoo] {name} = "
                "'your_package.plugin' in its pyproject.toml")


def _check_plugin_loaded(name: str, registry: Registry | None) -> None:
    info = _plugin_info(name, registry)
    if not info.version or info.version in ("?", "0"):
        raise _fail(f"plugin '{name}'", "loaded", f"its version is {info.version!r}",
                    "give the distribution a version in pyproject.toml ([project] version = '0.1.0')")
    if not info.entries and "ganzoo_register_commands" not in info.hooks:
        raise _fail(f"plugin '{name}'", "loaded", "it registers nothing",
                    "implement a hook such as ganzoo_register_models(register) with @ganzoo.hookimpl")


_TORCH_FREE = textwrap.dedent("""
    import importlib, json, sys
    from ganzoo.registry import Registry
    installed, name, modules = json.loads(sys.argv[1])
    registry = Registry(load_entry_points=installed)
    for module in modules:
        registry.add_plugin(importlib.import_module(module), name)
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
    print(json.dumps({"heavy": heavy, "failures": [f.line() for f in registry.failures]}))
""")


def _check_plugin_torch_free(name: str, registry: Registry | None) -> None:
    """Listing must stay fast: importing the plugin and calling its hooks imports no torch."""
    info = _plugin_info(name, registry)
    subject = f"plugin '{name}'"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    paths = [p for p in sys.path if p and Path(p).is_dir()]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    installed = info.distribution not in ("(not installed)",)
    modules: list[str] = []
    if name == BUILTIN_PLUGIN:
        env["GANZOO_PLUGINS"] = ""
        installed = True
    elif installed:
        env["GANZOO_PLUGINS"] = name
        env.pop("GANZOO_DISABLE_PLUGINS", None)
    else:
        modules = [m for m in info.modules if _importable(m)]
        if not modules:
            return  # a module built in memory (tests): nothing a user's `ganzoo list` would import
    proc = subprocess.run([sys.executable, "-c", _TORCH_FREE, json.dumps([installed, name, modules]),
                           json.dumps(HEAVY_MODULES)], capture_output=True, text=True, env=env, timeout=120)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise _fail(subject, "torch-free", f"loading the plugin in a fresh process failed: {tail}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if report["heavy"]:
        raise _fail(subject, "torch-free", f"importing it and calling its hooks imports {', '.join(report['heavy'])}",
                    "keep hook modules to hooks and strings; name the torch code with 'package.module:attr' "
                    "targets so it is imported only when a model is built (ganzoo list must stay fast)")
    mine = [line for line in report["failures"] if f"'{name}'" in line]
    if mine:
        raise _fail(subject, "torch-free", mine[0])


def _importable(module: str) -> bool:
    loaded = sys.modules.get(module)
    if loaded is not None and getattr(loaded, "__spec__", None) is None:
        return False
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _check_plugin_unique_names(name: str, registry: Registry | None) -> None:
    """No entry may take a built-in's name: once the plugin is installed, the short name
    (``--loss hinge``, ``ganzoo train dcgan``) is an error for every user until they type a
    qualified id, so a plugin that shadows a built-in breaks commands that worked before."""
    _plugin_info(name, registry)
    if name == BUILTIN_PLUGIN:
        return
    clashes = [c for c in _registry(registry).collisions() if c.plugin == name and c.shadows_builtin]
    if clashes:
        which = ", ".join(f"{c.kind} '{c.name}' ({BUILTIN_PLUGIN}:{c.name})" for c in clashes)
        raise _fail(f"plugin '{name}'", "unique-names",
                    f"it registers the name of a built-in: {which}, so the short name becomes an error for every "
                    f"user who installs it",
                    f"rename the entry, e.g. '{name}-{clashes[0].name}' (users can still reach both by their "
                    f"qualified ids, such as '{clashes[0].ids[0]}' and '{name}:{clashes[0].name}')")


def plugin_checks(name: str, registry: Registry | None = None) -> list[Check]:
    """The checks of the plugin itself: it loaded with a version, listing it imports no torch,
    and none of its entries takes a built-in's name."""
    return [Check("plugin", name, "loaded", lambda: _check_plugin_loaded(name, registry)),
            Check("plugin", name, "torch-free", lambda: _check_plugin_torch_free(name, registry)),
            Check("plugin", name, "unique-names", lambda: _check_plugin_unique_names(name, registry))]


# -- everything together ----------------------------------------------------------------------------------
def checks(plugin: str | None = None, *, models: Sequence[str] = (), losses: Sequence[str] = (),
           regularizers: Sequence[str] = (), datasets: Sequence[str] = (),
           dataset: str | Sequence[str] | None = None, registry: Registry | None = None,
           batch_size: int = BATCH, steps: int = STEPS, options: dict[str, Any] | None = None,
           objective_model: str | None = None, objective_dataset: str | None = None) -> list[Check]:
    """Every check for ``plugin`` (the plugin and each entry it registers) plus the
    entries named explicitly. Models are checked on ``dataset`` (one name or several;
    default: each model's own data set), skipping those of a kind a model's ``data_kinds``
    leaves out. Losses and regularizers run with ``objective_model`` on ``objective_dataset``
    (as ``model``/``dataset`` of :func:`loss_checks`): a term that needs a particular
    discriminator, or that clashes with a default model's regularizers, picks its own."""
    reg = _registry(registry)
    names: dict[str, list[str]] = {"model": list(models), "loss": list(losses),
                                   "regularizer": list(regularizers), "dataset": list(datasets)}
    out: list[Check] = []
    if plugin is not None:
        out += plugin_checks(plugin, registry)
        for kind in names:
            mine = [_ref(reg, kind, s) for s in reg.list(kind) if s.plugin == plugin]
            names[kind] = mine + [n for n in names[kind] if n not in mine]
    variants: list[str | None] = [dataset] if dataset is None or isinstance(dataset, str) else list(dataset)
    for model in names["model"]:
        # an images-only model in a plugin's ("ring8", "digits") sweep skips ring8; with no data set
        # of its kinds left, it is checked on them all, so that the failure says why
        fitting = [v for v in variants if v is None or _takes(reg, model, v)] or variants
        for variant in fitting:
            out += model_checks(model, registry, dataset=variant, batch_size=batch_size, steps=steps, options=options)
    for loss in names["loss"]:
        out += loss_checks(loss, registry, model=objective_model, dataset=objective_dataset)
    for reg_name in names["regularizer"]:
        out += regularizer_checks(reg_name, registry, model=objective_model, dataset=objective_dataset)
    for ds in names["dataset"]:
        spec = next((s for s in reg.list("dataset") if _ref(reg, "dataset", s) == ds), None)
        if spec is not None and spec.takes_argument:
            continue  # needs an argument: check it with dataset_checks(name, arg=...)
        out += dataset_checks(ds, registry)
    return out


def _takes(registry: Registry, model: str, dataset: str) -> bool:
    """Whether ``model`` declares it takes the kind of ``dataset``; True when either is not
    registered, so that the check itself reports that."""
    try:
        return bool(registry.model(model).takes(registry.dataset(dataset)[0].kind))
    except GanzooError:
        return True


def parametrize_with_checks(plugin: str | None = None, **kwargs: Any) -> Any:
    """A ``pytest.mark.parametrize`` over :func:`checks` (``kwargs`` as there, such as
    ``objective_model="dcgan", objective_dataset="digits"``): one test per entry and check,
    with ids like ``model:pacgan@digits:onnx``. The decorated test takes ``check`` and calls it."""
    import pytest

    found = checks(plugin, **kwargs)
    return pytest.mark.parametrize("check", found, ids=[c.id for c in found])


def _run_all(found: list[Check]) -> None:
    failures = []
    for check in found:
        try:
            check()
        except ConformanceError as exc:
            failures.append(str(exc))
    if failures:
        distinct = list(dict.fromkeys(failures))  # a broken spec fails every check the same way: say it once
        raise ConformanceError(f"{len(failures)} of {len(found)} checks failed:\n" + "\n".join(distinct))


def check_model(name: str, registry: Registry | None = None, dataset: str | None = None, *,
                batch_size: int = BATCH, steps: int = STEPS, options: dict[str, Any] | None = None) -> None:
    """Run every model check; raise one :class:`ConformanceError` listing each failure."""
    _run_all(model_checks(name, registry, dataset=dataset, batch_size=batch_size, steps=steps, options=options))


def check_loss(name: str, registry: Registry | None = None, *, model: str | None = None,
               dataset: str | None = None) -> None:
    """Run every loss check; raise one :class:`ConformanceError` listing each failure.
    ``model``/``dataset``: what the training check runs it with (default: a model that uses it)."""
    _run_all(loss_checks(name, registry, model=model, dataset=dataset))


def check_regularizer(name: str, registry: Registry | None = None, *, model: str | None = None,
                      dataset: str | None = None) -> None:
    """Run every regularizer check; raise one :class:`ConformanceError` listing each failure.
    ``model``/``dataset``: for a term that needs a particular discriminator (heads, images);
    default: a model whose spec uses it, else vanilla on ring8."""
    _run_all(regularizer_checks(name, registry, model=model, dataset=dataset))


def check_dataset(name: str, registry: Registry | None = None, *, arg: str | None = None) -> None:
    """Run every data set check; raise one :class:`ConformanceError` listing each failure."""
    _run_all(dataset_checks(name, registry, arg=arg))


def check_plugin(name: str, registry: Registry | None = None, **kwargs: Any) -> None:
    """Check the plugin and everything it registers (``kwargs`` as for :func:`checks`)."""
    _run_all(checks(name, registry=registry, **kwargs))


__all__ = [
    "BATCH", "STEPS", "Check", "ConformanceError", "check_dataset", "check_loss", "check_model", "check_plugin",
    "check_regularizer", "checks", "dataset_checks", "loss_checks", "model_checks", "parametrize_with_checks",
    "plugin_checks", "regularizer_checks",
]
