"""Turn a spec and a configuration into modules, and a run directory back into a generator."""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from ganzoo import schema
from ganzoo.api import sample_codes
from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine.config import TrainConfig, run_model
from ganzoo.errors import GanzooError
from ganzoo.registry import Registry, get_registry
from ganzoo.specs import ModelSpec, describe, load_target


def _who(spec: ModelSpec) -> str:
    """How every build error starts: the model's qualified id and the plugin (with its
    version) that registered it, because the fix belongs in that plugin, not in the command."""
    return f"model '{spec.qualified_name}' (plugin '{spec.plugin}' {spec.plugin_version})"


def _factory(spec: ModelSpec, which: str) -> Callable[..., Any]:
    """The ``generator`` or ``discriminator`` factory of ``spec``."""
    return load_target(spec, "model", which)


_FACTORY_ARGS = ("shape", "num_classes", "latent_dim", "source_shape")
_FACTORY_CALL = "factory(shape=..., num_classes=..., latent_dim=..., **options)"
_TRANSLATE_CALL = "factory(shape=..., source_shape=..., num_classes=..., latent_dim=..., **options)"


def _signature_problem(factory: Callable[..., Any], kwargs: dict[str, Any]) -> str | None:
    """What keeps ``factory(**kwargs)`` from binding, in the plugin author's terms; checked
    before the call so that a TypeError raised inside the factory is not mistaken for it."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # no introspectable signature: the call itself will tell
        return None
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    accepted = {p.name for p in params if p.kind in named}
    unexpected = [k for k in kwargs if not takes_any and k not in accepted]
    core = [k for k in unexpected if k in _FACTORY_ARGS]
    options = [k for k in unexpected if k not in _FACTORY_ARGS]
    call = _TRANSLATE_CALL if "source_shape" in kwargs else _FACTORY_CALL
    if core:
        return (f"does not accept {', '.join(core)}: ganzoo calls every factory as {call}; "
                f"the plugin must add {', '.join(core)} to its parameters")
    if options:
        sets = ", ".join(f"--set {k}=..." for k in options)
        return (f"does not accept the option(s) {', '.join(options)} (from the spec's options; {sets} changes them); "
                f"every option goes to both factories: the plugin must add {', '.join(options)} "
                "(or **options) to its parameters")
    missing = [p.name for p in params if p.default is inspect.Parameter.empty and p.name not in kwargs
               and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    if missing:
        return (f"requires {', '.join(missing)}, which ganzoo never passes (it calls {call}); "
                "the plugin must give them defaults or declare them in the spec's options")
    return None


def _target_name(spec: ModelSpec, which: str) -> str:
    target = getattr(spec, which)
    return repr(target) if isinstance(target, str) else getattr(target, "__qualname__", repr(target))


def _build(spec: ModelSpec, which: str, cfg: TrainConfig, shape: tuple[int, ...], num_classes: int,
           source_shape: tuple[int, ...] | None = None) -> nn.Module:
    """Call one factory exactly as documented, with a one-line error naming the plugin for each way it fails.
    An image-to-image model's factories also get ``source_shape``."""
    factory = _factory(spec, which)
    taken = sorted(set(cfg.options) & set(_FACTORY_ARGS))
    if taken:
        raise GanzooError(f"{_who(spec)}: its options may not be named {', '.join(taken)} (ganzoo passes those "
                          "to the factories itself); the plugin must rename them in ModelSpec(options=...)")
    kwargs = {"shape": tuple(shape), "num_classes": num_classes, "latent_dim": cfg.latent_dim, **cfg.options}
    if spec.task == "translate":
        if source_shape is None:
            raise GanzooError(f"{_who(spec)} translates images, and data set '{cfg.dataset}' has no source images; "
                              "choose a paired or unpaired set (ganzoo list datasets)")
        kwargs["source_shape"] = tuple(source_shape)
    problem = _signature_problem(factory, kwargs)
    if problem:
        raise GanzooError(f"{_who(spec)}: its {which} factory {_target_name(spec, which)} {problem}")
    try:
        module = factory(**kwargs)
    except GanzooError:
        raise  # the factory's own one-line message (a bad --set value, an unsupported shape)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        options = ", ".join(f"{k}={v!r}" for k, v in cfg.options.items()) or "its defaults"
        if isinstance(exc, MemoryError) or "allocate" in str(exc).lower():  # the sizes asked for, not the plugin
            raise GanzooError(f"not enough memory to build {_who(spec)}'s {which} with {options}: "
                              "use smaller --set values") from None
        call = "factory(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"
        raise GanzooError(f"{_who(spec)}: its {which} factory failed as {call}: {describe(exc)}; "
                          "fix the plugin (contract: docs/plugins.md §2) or try other --set values") from None
    if not isinstance(module, nn.Module):
        raise GanzooError(f"{_who(spec)}: its {which} factory returned a {type(module).__name__}, "
                          "not a torch.nn.Module; the plugin's factory must return the network")
    return module


def build_generator(cfg: TrainConfig, shape: tuple[int, ...], num_classes: int,
                    registry: Registry | None = None, source_shape: tuple[int, ...] | None = None) -> nn.Module:
    """The model's generator for this data shape, checked on a tiny CPU batch before
    anything is written, so a plugin's contract mistake is one line, not a crash mid-run."""
    spec = (registry or get_registry()).model(cfg.model)
    G = _build(spec, "generator", cfg, shape, num_classes, source_shape)
    if spec.task == "translate":
        assert source_shape is not None  # _build refused a set without sources
        check_translator(G, tuple(source_shape), shape, cfg.batch_size, _who(spec))
    else:
        _check_generator(G, spec, cfg, shape, num_classes)
    return G


def build_discriminator(cfg: TrainConfig, shape: tuple[int, ...], num_classes: int,
                        registry: Registry | None = None, source_shape: tuple[int, ...] | None = None) -> nn.Module:
    """The model's discriminator (or the ``--discriminator timm:ARCH`` swap), checked to
    return ``[N]`` logits on a tiny CPU batch before training starts (an image-to-image
    model's may return a map ``[N, h, w]``)."""
    spec = (registry or get_registry()).model(cfg.model)
    if spec.task == "translate":
        if cfg.discriminator:
            raise GanzooError(f"--discriminator swaps the discriminator of a noise -> image model; '{cfg.model}' "
                              "translates images, and its discriminator is judged with the source: drop "
                              "--discriminator")
        D = _build(spec, "discriminator", cfg, shape, num_classes, source_shape)
        assert source_shape is not None  # _build refused a set without sources
        check_discriminator_output(D, shape, num_classes, cfg.batch_size, _who(spec), tuple(source_shape))
        return D
    if cfg.discriminator:
        from ganzoo.models.timm_d import build_timm_discriminator

        D = build_timm_discriminator(cfg.discriminator, shape, num_classes)
        check_discriminator_output(D, shape, num_classes, cfg.batch_size, f"discriminator '{cfg.discriminator}'")
        return D
    D = _build(spec, "discriminator", cfg, shape, num_classes)
    check_discriminator_output(D, shape, num_classes, cfg.batch_size, _who(spec))
    return D


def _check_generator(G: nn.Module, spec: ModelSpec, cfg: TrainConfig, shape: tuple[int, ...],
                     num_classes: int) -> None:
    """The generator's attributes agree with how it was built, and forward makes that shape."""
    who = _who(spec)
    for attr in ("latent_dim", "num_classes", "output_shape"):
        if not hasattr(G, attr):
            raise GanzooError(f"{who}: its generator {type(G).__name__} lacks the attribute '{attr}'; the plugin "
                              "must set self.latent_dim, self.num_classes and self.output_shape in __init__ "
                              "(docs/plugins.md §2)")
    if G.latent_dim != cfg.latent_dim:
        raise GanzooError(f"{who}: its generator has latent_dim {G.latent_dim!r} but was built with latent_dim="
                          f"{cfg.latent_dim}; the plugin must store the latent_dim argument and size z's layer by it")
    if G.num_classes != num_classes:
        raise GanzooError(f"{who}: its generator has num_classes {G.num_classes!r} but was built with num_classes="
                          f"{num_classes}; the plugin must store the num_classes argument (0: unconditional)")
    promised: Any = G.output_shape
    try:
        promised = tuple(promised)
    except TypeError:
        pass
    if promised != tuple(shape):
        raise GanzooError(f"{who}: its generator's output_shape {promised} differs from the data shape "
                          f"{tuple(shape)}; the plugin must set output_shape = tuple(shape) from the shape argument "
                          "and generate samples of that shape")
    check_generator_output(G, shape, num_classes, cfg.batch_size, who)


#: Largest batch the build-time checks use (divides by 2, 3, 4 and 6, for packing discriminators).
CHECK_BATCH = 12


def _check_sizes(batch_size: int) -> list[int]:
    """A tiny batch that divides the training batch (so a packing D accepts it), then the
    training batch itself as the fallback when a network refuses the tiny one."""
    batch_size = max(1, int(batch_size))
    small = math.gcd(batch_size, CHECK_BATCH)
    return [small] if small == batch_size else [small, batch_size]


@contextlib.contextmanager
def _probe(module: nn.Module) -> Iterator[torch.device]:
    """Run ``module`` without side effects: eval mode (no BatchNorm statistics or spectral-norm
    updates), no autograd, the global RNG untouched (a seeded run trains exactly as without
    the check); every submodule's train/eval flag is restored afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    first: torch.Tensor | None = next(iter(module.parameters()), None)
    if first is None:
        first = next(iter(module.buffers()), None)
    device = first.device if first is not None else torch.device("cpu")
    module.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
            yield device
    finally:
        for m, mode in modes:
            m.training = mode


def _forward(module: nn.Module, what: str, who: str, sizes: list[int],
             make_inputs: Callable[[int], tuple[tuple[Any, ...], dict[str, Any]]]) -> tuple[Any, int]:
    """(output, batch size) for the first size the module accepts; only the last size's error is reported."""
    for i, n in enumerate(sizes):
        last = i == len(sizes) - 1
        args, kwargs = make_inputs(n)
        try:
            return module(*args, **kwargs), n
        except GanzooError:
            if last:
                raise  # the network's own one-line message (e.g. a batch size it cannot take)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if last:
                shapes = ", ".join("None" if a is None else f"[{', '.join(map(str, a.shape))}]" for a in args)
                shapes += ", codes={...}" if kwargs else ""
                raise GanzooError(f"{who}: its {what}'s forward({shapes}) raised {describe(exc)}; the plugin's "
                                  f"{what} must accept this batch (contract: docs/plugins.md §2)") from None
    raise AssertionError("unreachable: sizes is never empty")


def _labels(n: int, num_classes: int, gen: torch.Generator, device: torch.device) -> torch.Tensor | None:
    return torch.randint(0, num_classes, (n,), generator=gen).to(device) if num_classes else None


def check_generator_output(G: nn.Module, shape: tuple[int, ...], num_classes: int, batch_size: int,
                           who: str = "model") -> None:
    """G must turn ``z [N, latent_dim]`` (and labels) into ``[N, *shape]``: checked on a tiny
    batch, without side effects, so a wrong shape is one line naming ``who`` instead of a
    broadcasting error (or silent nonsense) deep inside the training loop."""
    want = tuple(int(s) for s in shape)
    latent_dim: Any = G.latent_dim
    with _probe(G) as device:
        gen = torch.Generator().manual_seed(0)

        def inputs(n: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
            z = torch.randn(n, int(latent_dim), generator=gen).to(device)
            codes = sample_codes(G, n, device, gen)
            return (z, _labels(n, num_classes, gen, device)), ({"codes": codes} if codes else {})

        out, n = _forward(G, "generator", who, _check_sizes(batch_size), inputs)
    if not isinstance(out, torch.Tensor):
        raise GanzooError(f"{who}: its generator returned a {type(out).__name__}; the plugin's generator must "
                          "return one tensor [N, *output_shape]")
    if tuple(out.shape) != (n, *want):
        raise GanzooError(f"{who}: its generator returned shape {list(out.shape)} for a batch of {n}, but its "
                          f"output_shape and the data say {[n, *want]}; the plugin's generator must return "
                          "[N, *output_shape] (docs/plugins.md §2)")
    if not out.is_floating_point():
        raise GanzooError(f"{who}: its generator returned {out.dtype} samples; the plugin's generator must "
                          "return float32")


#: What a translation generator's attributes must say (docs/plugins.md, "Image-to-image models").
TRANSLATOR_ATTRIBUTES = ("source_shape", "output_shape", "scale", "multiple")


def check_translator(G: nn.Module, source_shape: tuple[int, ...], shape: tuple[int, ...], batch_size: int,
                     who: str = "model") -> None:
    """An image-to-image generator (each of its ``directions``) declares its shapes, scale and
    size multiple, and turns ``[N, *source_shape]`` into ``[N, *shape]``: checked on a tiny
    batch, so a plugin's mistake is one line before anything is written."""
    from ganzoo.api import directions

    names = directions(G)
    for name in names:
        if not isinstance(getattr(G, name, None), nn.Module):
            raise GanzooError(f"{who}: its generator lists direction '{name}' but has no submodule of that name; "
                              "the plugin must set self.<direction> to each direction's generator")
    first = getattr(G, names[0]) if names else G
    checks = [(first, tuple(source_shape), tuple(shape), names[0] if names else "")]
    if len(names) > 1:  # the way back (CycleGAN's B->A): target to source
        checks += [(getattr(G, name), tuple(shape), tuple(source_shape), name) for name in names[1:2]]
    for net, src, want, name in cast("list[tuple[Any, tuple[int, ...], tuple[int, ...], str]]", checks):
        what = f"generator '{name}'" if name else "generator"
        for attr in TRANSLATOR_ATTRIBUTES:
            if not hasattr(net, attr):
                raise GanzooError(f"{who}: its {what} lacks the attribute '{attr}'; an image-to-image generator must "
                                  "set self.source_shape, self.output_shape, self.scale and self.multiple "
                                  "(docs/plugins.md, \"Image-to-image models\")")
        if tuple(net.source_shape) != src or tuple(net.output_shape) != want:
            raise GanzooError(f"{who}: its {what} says source_shape {tuple(net.source_shape)} -> output_shape "
                              f"{tuple(net.output_shape)}, but the data set is {src} -> {want}; the plugin must set "
                              "them from the factory's source_shape and shape")
        with _probe(net) as device:
            gen = torch.Generator().manual_seed(0)

            def inputs(n: int, src: tuple[int, ...] = src, gen: torch.Generator = gen
                       ) -> tuple[tuple[Any, ...], dict[str, Any]]:
                return ((torch.rand(n, *src, generator=gen) * 2 - 1).to(device),), {}

            out, n = _forward(net, what, who, _check_sizes(batch_size), inputs)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n, *want) or not out.is_floating_point():
            got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise GanzooError(f"{who}: its {what} turned a source batch {[n, *src]} into {got}; it must return "
                              f"float images {[n, *want]} (docs/plugins.md, \"Image-to-image models\")")


def check_discriminator_output(D: nn.Module, shape: tuple[int, ...], num_classes: int, batch_size: int,
                               who: str = "model", source_shape: tuple[int, ...] | None = None) -> None:
    """D must turn a batch ``[N, *shape]`` into raw logits ``[N]``: an ``[N, 1]`` output would
    broadcast silently against ``[N]`` in the losses, so it is refused here, on a tiny batch.
    An image-to-image model's D is called as ``D(x, source)`` and may return a map of logits
    ``[N, h, w]`` (PatchGAN), which the losses average."""
    want = tuple(int(s) for s in shape)
    with _probe(D) as device:
        gen = torch.Generator().manual_seed(0)

        def inputs(n: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
            x = torch.rand(n, *want, generator=gen) * 2 - 1 if len(want) == 3 else torch.randn(n, *want, generator=gen)
            if source_shape is not None:
                return (x.to(device), (torch.rand(n, *source_shape, generator=gen) * 2 - 1).to(device)), {}
            return (x.to(device), _labels(n, num_classes, gen, device)), {}

        out, n = _forward(D, "discriminator", who, _check_sizes(batch_size), inputs)
    if not isinstance(out, torch.Tensor):
        raise GanzooError(f"{who}: its discriminator returned a {type(out).__name__}; the plugin's discriminator "
                          "must return one tensor of [N] logits")
    if source_shape is not None and out.dim() == 3 and out.shape[0] == n:
        pass  # a PatchGAN's map of logits
    elif tuple(out.shape) != (n,):
        hint = "e.g. out.squeeze(1)" if tuple(out.shape) == (n, 1) else "one raw logit per sample"
        raise GanzooError(f"{who}: its discriminator returned shape {list(out.shape)} for a batch of {n}; the "
                          f"plugin's discriminator must return [N] logits ({hint}; docs/plugins.md §2)")
    if not out.is_floating_point():
        raise GanzooError(f"{who}: its discriminator returned {out.dtype} logits; the plugin's discriminator "
                          "must return float logits")


def check_networks(G: nn.Module, D: nn.Module, cfg: TrainConfig, shape: tuple[int, ...], num_classes: int,
                   registry: Registry | None = None) -> None:
    """G's attributes and output shape and D's ``[N]`` logits, on a tiny batch, for modules
    built some other way (``build_generator`` and ``build_discriminator`` already run this)."""
    spec = (registry or get_registry()).model(cfg.model)
    _check_generator(G, spec, cfg, shape, num_classes)
    check_discriminator_output(D, shape, num_classes, cfg.batch_size,
                               f"discriminator '{cfg.discriminator}'" if cfg.discriminator else _who(spec))


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """A run's config.json, size-capped and checked key by key (:mod:`ganzoo.schema`)."""
    return schema.read_run_config(run_dir)


def load_generator(run_dir: str | Path, weights: str | None = None, registry: Registry | None = None,
                   checkpoint: str | None = None) -> tuple[nn.Module, dict[str, Any], str]:
    """The trained generator of a run, in eval mode on the CPU.

    ``weights`` is "ema" or "raw"; None picks EMA weights when the run has them.
    ``checkpoint`` is which checkpoint they come from: "latest" (None), "best" (kept by
    ``--eval-every``) or a step that ``--keep`` kept. Which weights and which checkpoint are
    two questions, so ``--checkpoint best --weights raw`` is the raw G of the best checkpoint.
    Returns (generator, config.json contents, the weights actually used)."""
    run_dir = Path(run_dir)
    meta = read_run_config(run_dir)
    run_model(meta, run_dir, registry)  # a plugin that is gone: say which and how to install it
    where = ckpt.find_checkpoint(run_dir, checkpoint)
    has_ema = (where / ckpt.GENERATOR_EMA).is_file()
    if weights is None:
        weights = "ema" if has_ema else "raw"
    if weights == "ema" and not has_ema:
        raise GanzooError(f"run '{run_dir}' has no EMA weights (trained without --ema); use --weights raw")
    if weights not in ("ema", "raw"):
        raise GanzooError(f"--weights must be 'ema' or 'raw', got '{weights}'")
    cfg = TrainConfig.from_dict(meta)
    data = meta["data"]
    source_shape = data.get("source_shape")
    G = build_generator(cfg, tuple(data["shape"]), int(data["model_classes"]), registry,
                        tuple(source_shape) if source_shape else None)
    ckpt.load_weights(where / (ckpt.GENERATOR_EMA if weights == "ema" else ckpt.GENERATOR), G)
    return G.eval().requires_grad_(False), meta, weights


@torch.no_grad()
def fixed_labels(num_classes: int, per_class: int, device: torch.device) -> torch.Tensor:
    """Labels for a conditional grid: one row per class."""
    return torch.arange(num_classes, device=device).repeat_interleave(per_class)
