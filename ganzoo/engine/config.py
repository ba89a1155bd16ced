"""The resolved training configuration: spec defaults overridden by the user's options.

Everything needed to rebuild a run lives here and in ``config.json``; a run
directory can be copied anywhere and resumed or exported without the data set.
What may change when a run is resumed is decided here too (:func:`resume_config`),
so the CLI and a Python caller follow the same rules.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganzoo import schema
from ganzoo.errors import GanzooError
from ganzoo.registry import Registry, get_registry
from ganzoo.specs import ModelSpec
from ganzoo.terms import parse_loss, parse_reg


@dataclass
class TrainConfig:
    model: str
    dataset: str
    loss: str
    steps: int
    batch_size: int
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    n_critic: int
    latent_dim: int
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # CPU threads; 0: the cores other jobs leave free (see engine.train.free_cores)
    out: str = ""
    log_every: int = 50
    sample_every: int = 500
    ckpt_every: int = 1000
    amp: bool = False
    compile: bool = False
    ema: bool = False
    ema_decay: float = 0.999
    lr_decay: float = 0.0  # the last fraction of the steps over which both rates fall linearly to 0
    pool: int = 0  # generated images kept to show D beside the newest (ganzoo.objectives.pool)
    reg: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)  # the model's own objective terms (its spec's)
    discriminator: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    download: bool = False
    image_size: int | None = None
    augment: str | None = None
    stream: bool | None = None  # image files: stream them (True), hold them (False), by the budget (None)
    data_budget_gb: float | None = None  # memory for holding image files [default: a quarter of RAM]
    workers: int = 0  # decode workers for image files; 0: one per free core, at most 8
    tensorboard: bool = False  # also log to RUN/tensorboard (every term, sample grids)
    keep: int = 1  # checkpoints kept: checkpoint/ and the newest keep - 1 it replaced, as checkpoint-STEP/
    eval_every: int = 0  # the data set's figure every K steps into metrics.jsonl, the best kept as best/; 0: never
    eval_n: int = 1000  # samples per --eval-every evaluation (ganzoo.metrics.quick.DEFAULT_N)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        kwargs["betas"] = tuple(kwargs.get("betas", (0.5, 0.999)))
        return cls(**kwargs)


def resolve(model: str, registry: Registry | None = None, **overrides: Any) -> TrainConfig:
    """Fill every option the user left as None from the model's spec — its defaults for the
    data set's kind (2-D points or images) — then validate."""
    registry = registry or get_registry()
    spec = registry.model(model)
    dataset = overrides.get("dataset") or own(registry, "dataset", spec.dataset, spec.plugin)
    d = spec.defaults_for(registry.dataset(dataset)[0].kind)
    base: dict[str, Any] = dict(
        model=model, dataset=dataset, loss=own(registry, "loss", spec.loss, spec.plugin), steps=d.steps,
        batch_size=d.batch_size,
        lr_g=d.lr_g, lr_d=d.lr_d, betas=tuple(d.betas), n_critic=d.n_critic, latent_dim=d.latent_dim,
        reg=[own(registry, "regularizer", r, spec.plugin) for r in d.reg], ema=d.ema, ema_decay=d.ema_decay,
        lr_decay=d.lr_decay, amp=d.amp, pool=d.pool,
        options=dict(spec.options), terms=[own(registry, "regularizer", t, spec.plugin) for t in spec.terms],
    )
    if overrides.get("eval_n") is not None and not overrides.get("eval_every"):
        raise GanzooError("--eval-n sets the samples of --eval-every's figure; add --eval-every K or drop --eval-n")
    user_options = overrides.pop("options", None) or {}
    for key, value in overrides.items():
        if value is not None:
            base[key] = value
    if overrides.get("discriminator") and overrides.get("amp") is None:
        base["amp"] = False  # a model's bf16 default was measured with its own D (a timm D diverged under it)
    unknown = sorted(set(user_options) - set(spec.options))
    if unknown:
        known = ", ".join(sorted(spec.options)) or "none"
        raise GanzooError(f"model '{model}' has no option {', '.join(repr(k) for k in unknown)} (its options: {known})")
    for key, value in user_options.items():
        base["options"][key] = check_option(model, key, spec.options[key], value)
    base["terms"], base["reg"] = _retune_terms(base["terms"], base["reg"], registry)
    cfg = TrainConfig(**base)
    if not cfg.out:
        cfg.out = str(Path("runs") / f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    validate(cfg, registry)
    return cfg


#: Options a resumed run may change: how long it trains, where, and how it reports; never what it trains.
RESUMABLE = frozenset({"steps", "log_every", "sample_every", "ckpt_every", "device", "threads", "workers",
                       "tensorboard", "keep", "eval_every", "eval_n"})


def resume_config(run_dir: str, model: str | None = None, registry: Registry | None = None,
                  echo: Callable[[str], None] | None = None, **opts: Any) -> TrainConfig:
    """The config to continue the run in ``run_dir`` with: its config.json, with the
    :data:`RESUMABLE` options among ``opts`` (the train options, None where not given)
    applied and checked before torch starts.

    ``model``, when given, must be the run's model; any other option given with a value
    that differs from the run's is an error (a new run is the way to change it). Thread
    and worker counts saved on a larger machine than this one fall back to automatic,
    with a note through ``echo``."""
    from ganzoo import limits

    registry = registry or get_registry()
    meta = schema.read_run_config(run_dir)
    cfg = TrainConfig.from_dict(meta)
    trained = run_model(meta, run_dir, registry)
    if model and registry.model(model).qualified_name != trained.qualified_name:
        raise GanzooError(f"run '{run_dir}' trained model '{cfg.model}', not '{model}'; continue it with "
                          f"ganzoo train --resume {run_dir}, or train '{model}' with another --out")
    data = meta.get("data") or {}
    if cfg.image_size is None and data.get("kind") in ("images", "pairs", "domains") and ":" in (cfg.dataset or ""):
        # a user folder's side is chosen from its images when not given, and that choice may
        # change between versions: the run continues at the side its weights were made for
        cfg.image_size = int(data["shape"][-1])
    # unset options arrive as None, (), {} or an unset flag's False; a 0 (--pool 0, --lr-decay 0) is a value
    given = {k: v for k, v in opts.items() if not (v is None or v is False or v == () or v == {})}
    changed = [k for k, v in given.items() if k not in RESUMABLE and k != "seed" and v != getattr(cfg, k, v)]
    if changed:
        raise GanzooError(f"cannot change {', '.join('--' + c.replace('_', '-') for c in changed)} when resuming; "
                          "start a new run instead")
    for key in RESUMABLE:
        if opts.get(key) is not None and not (key == "device" and opts[key] == "auto"):
            setattr(cfg, key, opts[key])
    cfg.out = run_dir
    for key in ("threads", "workers"):  # a run copied from a larger machine: its counts do not bind this one
        saved = getattr(cfg, key)
        if opts.get(key) is None and isinstance(saved, int) and saved > limits.threads_max():
            if echo:
                echo(f"note: the run's --{key} {saved} is more than this machine takes "
                     f"({limits.threads_max()}); using 0 (automatic)")
            setattr(cfg, key, 0)
    _check_numbers(cfg)  # the new --steps, --threads, ... and the run's own numbers, before torch starts
    return cfg


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a word"}


def describe_option(default: Any) -> str:
    """An option's type and default as ``ganzoo info`` shows them."""
    if default is None:
        return "default: chosen by the model (the factory checks what you set)"
    if isinstance(default, (tuple, list)):
        return f"a list, default {json.dumps(list(default))}"
    return f"{_TYPE_WORDS.get(type(default), type(default).__name__)}, default {json.dumps(default)}"


def check_option(model: str, key: str, default: Any, value: Any) -> Any:
    """A ``--set`` value has the type of the spec's default (options whose default is None
    are left to the factory, which checks them when it builds). Returns the value, an
    integer made a float where the default is one, so that config.json records
    ``--set mixing=0`` as the default 0.0 it equals."""
    if default is None:
        return value
    kind = type(default)
    if isinstance(default, (tuple, list)):
        ok = isinstance(value, (tuple, list))
        want = f"a list like {json.dumps(list(default))}"
    else:
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        ok = ok or (kind is float and isinstance(value, int) and not isinstance(value, bool))
        want = _TYPE_WORDS.get(kind, kind.__name__)
    if not ok:
        shown = json.dumps(list(value) if isinstance(value, tuple) else value)
        raise GanzooError(f"--set {key}={shown}: model '{model}' takes {want} for '{key}' "
                          f"(default {json.dumps(list(default) if isinstance(default, tuple) else default)})")
    if kind is float:
        try:
            return float(value)
        except OverflowError:
            raise GanzooError(f"--set {key}: {str(value)[:20]}... is too large for a number; give one like "
                              f"{json.dumps(default)}") from None
    return value


def own(registry: Registry, kind: str, item: str, plugin: str) -> str:
    """A short name in a plugin's spec means that plugin's entry when another plugin
    registers the same name: ``hinge`` in a built-in spec stays ``ganzoo:hinge`` after a
    plugin adds its own ``hinge``. Anything else is returned unchanged."""
    name = item.split("@")[0].split(":")[0]
    if ":" in item.split("@")[0] and kind != "regularizer":
        return item  # already qualified (or a dataset argument)
    same = [s for s in registry.list(kind) if s.name == name]
    if len(same) > 1 and any(s.plugin == plugin for s in same):
        return f"{plugin}:{item}"
    return item


def _retune_terms(terms: list[str], reg: list[str], registry: Registry) -> tuple[list[str], list[str]]:
    """A ``--reg`` entry naming one of the model's own terms (``--reg info:2`` for infogan)
    sets that term's weight and interval rather than adding a second copy of it, which the
    loop would refuse (two objectives adding one term)."""
    position = {parse_reg(t, registry).spec.qualified_name: i for i, t in enumerate(terms)}
    terms, rest = list(terms), []
    for item in reg:
        i = position.get(parse_reg(item, registry).spec.qualified_name)
        if i is None:
            rest.append(item)
        else:
            terms[i] = item
    return terms, rest


def validate(cfg: TrainConfig, registry: Registry | None = None) -> None:
    """One-line errors for every option that cannot work, before any work starts."""
    registry = registry or get_registry()
    check_data_kind(registry.model(cfg.model), cfg.model, registry.dataset(cfg.dataset)[0].kind, cfg.dataset)
    parse_loss(cfg.loss, registry)
    seen: set[str] = set()
    for item in [*cfg.terms, *cfg.reg]:
        name = parse_reg(item, registry).spec.qualified_name
        if name in seen:
            raise GanzooError(f"--reg {item}: regularizer '{name.split(':')[-1]}' is given twice; give it once "
                              "(one weight and interval per regularizer)")
        seen.add(name)
    _check_numbers(cfg)
    if len(cfg.betas) != 2 or not all(0 <= b < 1 for b in cfg.betas):
        raise GanzooError(f"--betas must be two numbers in [0, 1) like 0.5,0.999, got {cfg.betas}")
    if not 0 < cfg.ema_decay < 1:
        raise GanzooError(f"--ema-decay must lie in (0, 1), got {cfg.ema_decay}")
    if not 0 <= cfg.lr_decay <= 1:
        raise GanzooError(f"--lr-decay must lie in [0, 1] (a fraction of --steps; 0 keeps the rates), "
                          f"got {cfg.lr_decay}")
    if not 0 <= cfg.pool <= schema.POOL_MAX:
        raise GanzooError(f"--pool must be 0 (none) to {schema.POOL_MAX:,} images, got {cfg.pool}")
    if cfg.augment is not None:
        from ganzoo.augment import parse_augment

        parse_augment(cfg.augment)
        if registry.model(cfg.model).task == "translate" and cfg.augment != "none":
            raise GanzooError(f"--augment changes the images D judges, not the sources beside them, so it would "
                              f"unpair what '{cfg.model}' translates; image-to-image models train without it: "
                              "drop --augment")
    if registry.dataset(cfg.dataset)[0].kind == "points":  # image options would be silently ignored
        for flag, given in (("--image-size", cfg.image_size), ("--augment", cfg.augment)):
            if given is not None and given != "none":
                raise GanzooError(f"{flag} applies to images; data set '{cfg.dataset}' holds 2-D points: drop {flag}")
    if cfg.eval_every:
        from ganzoo.metrics.quick import check_dataset

        check_dataset(cfg.dataset)
    if cfg.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise GanzooError("--tensorboard needs the tensorboard package: pip install 'ganzoo-onnx[tensorboard]'")
    if cfg.device not in ("auto", "cpu", "cuda", "mps") and not cfg.device.startswith("cuda:"):
        raise GanzooError(f"--device must be auto, cpu, cuda or mps, got '{cfg.device}'")
    _check_step_memory(cfg, registry)


_KIND_WORDS = {"images": "images", "points": "2-D points", "pairs": "paired images (source -> target)",
               "domains": "two unpaired image domains"}
_KIND_EXAMPLES = {"images": "an image set such as digits", "points": "a point set such as ring8",
                  "pairs": "a paired set such as edges2digits", "domains": "an unpaired set such as digits2textured"}


def check_data_kind(spec: ModelSpec, model: str, kind: str, dataset: str) -> None:
    """A model whose spec says it takes only images (or only points) refuses the other kind
    here, with one line, instead of failing inside its factory with a shape error."""
    if spec.takes(kind):
        return
    takes = " and ".join(_KIND_WORDS[k] for k in spec.data_kinds)
    raise GanzooError(f"model '{model}' takes {takes} only, and data set '{dataset}' holds {_KIND_WORDS[kind]}; "
                      f"choose {' or '.join(_KIND_EXAMPLES[k] for k in spec.data_kinds)} with --dataset")


def run_model(meta: dict[str, Any], run_dir: str | Path, registry: Registry | None = None) -> ModelSpec:
    """The spec of the model a run (its config.json, ``meta``) was trained with; when its
    plugin is gone, the error names the plugin and how to get it back, from what config.json
    recorded, instead of suggesting a similarly named model that has nothing to do with the weights."""
    registry = registry or get_registry()
    name = str(meta["model"])
    try:
        return registry.model(name)
    except GanzooError:
        problem = registry.missing_plugin(name, meta.get("versions"), meta.get("model_plugin"))
        if problem is None:
            raise
        raise GanzooError(f"run '{run_dir}' was trained with model '{name.rpartition(':')[2]}' {problem}") from None


def _check_step_memory(cfg: TrainConfig, registry: Registry) -> None:
    """Images: refuse a step whose lower-bound memory (ganzoo.limits.training_bytes) cannot fit the
    memory available, where that memory is the host's: on the CPU, or 'auto' without CUDA. The
    estimate runs first so that torch is asked about CUDA only for a step that large."""
    from ganzoo import limits

    spec = registry.dataset(cfg.dataset)[0]
    if spec.kind == "points":
        return
    shape = spec.shape or (3, 64, 64)  # folder:PATH: RGB at the folders' default size
    size = cfg.image_size or shape[-1]
    estimate = limits.training_bytes(cfg.batch_size, size, shape[0])
    free = limits.available_memory()
    if free is None or estimate <= free * limits.MEMORY_SHARE or cfg.device not in ("cpu", "auto"):
        return
    if cfg.device == "auto":
        import torch

        if torch.cuda.is_available() or torch.backends.mps.is_available():
            return
    limits.check_memory(f"a training step of {cfg.batch_size:,} images of {size}x{size} (real, fake and "
                        "the gradient, 3 x batch x C x H x W x 4 bytes, before any feature map)", estimate,
                        "lower --batch-size or --image-size")


def _check_numbers(cfg: TrainConfig) -> None:
    """Counts, rates and budgets: each in its documented range (ganzoo.limits says why each
    bound sits where it does), or one line naming the flag; before any folder or tensor exists."""
    from ganzoo import limits

    limits.check_seed(cfg.seed)
    if cfg.workers is None or cfg.workers < 0:
        raise GanzooError(f"--workers must be a positive integer (or 0 for automatic), got {cfg.workers}")
    limits.check_int("--workers", cfg.workers, 0, limits.threads_max(),
                     f"decode processes, {limits.THREADS_PER_CORE} per core at most; 0: automatic")
    if cfg.data_budget_gb is not None and not 0 < cfg.data_budget_gb < float("inf"):
        raise GanzooError(f"--data-budget must be a positive number of GB, got {cfg.data_budget_gb}")
    if cfg.threads is None or cfg.threads < 0:
        raise GanzooError(f"--threads must be a positive integer (or 0 for automatic), got {cfg.threads}")
    limits.check_threads(cfg.threads)
    positive = {"steps": cfg.steps, "batch-size": cfg.batch_size, "n-critic": cfg.n_critic,
                "latent-dim": cfg.latent_dim, "log-every": cfg.log_every,
                "sample-every": cfg.sample_every, "ckpt-every": cfg.ckpt_every}
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GanzooError(f"--{name} must be a positive integer, got {value}")
    limits.check_int("--steps", cfg.steps, 1, limits.STEPS_MAX, "a billion steps is years of training")
    limits.check_int("--batch-size", cfg.batch_size, 1, limits.BATCH_MAX, "32x BigGAN's 2,048")
    limits.check_int("--latent-dim", cfg.latent_dim, 1, limits.LATENT_MAX, "128x StyleGAN's 512")
    limits.check_int("--n-critic", cfg.n_critic, 1, limits.N_CRITIC_MAX, "WGAN uses 5")
    for name in ("log-every", "sample-every", "ckpt-every"):  # an interval past the last step means never
        limits.check_int(f"--{name}", positive[name], 1, limits.STEPS_MAX, "a number of steps")
    limits.check_int("--keep", cfg.keep, 1, schema.KEEP_MAX, "checkpoints kept on disk, each a full copy")
    limits.check_int("--eval-every", cfg.eval_every, 0, limits.STEPS_MAX, "a number of steps; 0: never")
    limits.check_int("--eval-n", cfg.eval_n, 2, limits.EVAL_N_MAX, "samples per evaluation, held in memory; "
                     "a Fréchet distance needs 2 at least")
    if cfg.image_size is not None:
        limits.check_int("--image-size", cfg.image_size, limits.IMAGE_SIZE_MIN, limits.IMAGE_SIZE_MAX,
                         "pixels a side: from the smallest a convolution stack starts at to StyleGAN's 1,024")
    for name, rate in (("lr-g", cfg.lr_g), ("lr-d", cfg.lr_d)):
        if not 0 < rate < float("inf"):
            raise GanzooError(f"--{name} must be a finite positive number, got {rate}")
