"""One training loop for every model.

Read it top to bottom: :func:`_setup` loads the data and builds G, D, the objectives
and the optimizers; then each step is ``n_critic`` discriminator updates
(:func:`_d_update`), one generator update (:func:`_g_update`) and the interval work
(:func:`_maintain`: log, samples, checkpoint). The math of a step belongs to the
objectives (:mod:`ganzoo.api`): the loop only draws batches, asks the objectives for
their terms, sums, back-propagates, all-reduces and steps. It touches the host only
at log steps; in-memory data sets sit on the device and batches are drawn by index.
The files of the run folder are :mod:`ganzoo.engine.rundir`'s, the checkpoints
:mod:`ganzoo.engine.checkpoint`'s. With ``--eval-every`` the interval work also scores the
generator (:mod:`ganzoo.metrics.quick`) and keeps the best one as ``best/``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from ganzoo.api import Code, Outputs, Phase, Setup, Step, codes_of, generate, sample_codes, translate
from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine import distributed, rundir
from ganzoo.engine.adam import Optimizer, make_adam
from ganzoo.engine.build import build_discriminator, build_generator, fixed_labels
from ganzoo.engine.config import TrainConfig, validate
from ganzoo.engine.ema import make_ema, recalibrate_batchnorm, update_ema
from ganzoo.engine.runlock import RunLock
from ganzoo.errors import GanzooError
from ganzoo.objectives import Part, build_parts, check_state, collect_terms, total
from ganzoo.objectives.pool import ImagePool
from ganzoo.registry import Registry
from ganzoo.specs import load_target

DEVICE_DATA_LIMIT = 2 * 1024**3  # bytes of data kept whole on an accelerator
#: A logged term above this magnitude means training is exploding (finite, but no GAN loss gets there).
LOSS_LIMIT = 1e6
OBJECTIVES_FILE = "objectives.safetensors"


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the run was saved at ``step`` and can be resumed."""

    def __init__(self, run_dir: Path, step: int, is_main: bool = True) -> None:
        super().__init__(f"interrupted at step {step}")
        self.run_dir, self.step, self.is_main = run_dir, step, is_main


class Diverged(GanzooError):
    """A loss or a weight became NaN, infinite or exploded; the last good checkpoint is left as it was."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    seconds: float
    metrics: dict[str, float]
    is_main: bool = True  # False on the other ranks of a torchrun job


@dataclass
class Run:
    """Everything one training run holds, built once by :func:`_setup`."""

    cfg: TrainConfig
    ctx: distributed.Context
    run_dir: Path
    data: Any
    num_classes: int
    G: nn.Module
    D: nn.Module
    G_run: Callable[..., Tensor]
    D_run: nn.Module  # what plugin API 1.0 regularizers receive as D (augmented, maybe compiled)
    discriminate: Callable[[Tensor, Tensor | None], Outputs]
    parts: list[Part]
    opt_g: Optimizer
    opt_d: Optimizer
    ema: Any
    modules: dict[str, nn.Module]  # checkpoint file name -> module
    draw: Callable[[], tuple[Tensor, Tensor | None, Tensor | None]]  # real (targets), labels, sources
    autocast: Callable[[], Any]
    sample_inputs: tuple[Tensor, Tensor | None, dict[str, Tensor]]
    real_points: Any
    objective_modules: dict[str, list[nn.Module]] = field(default_factory=dict)  # phase -> modules
    stream: Any = None  # a Stream when the data set is streamed from files: its position is checkpointed
    board: Any = None  # a torch.utils.tensorboard SummaryWriter with --tensorboard (rank 0)
    figure: Any = None  # a ganzoo.metrics.quick.TrainingFigure with --eval-every (rank 0)
    best: dict[str, float] | None = None  # the figures best/ holds, to beat
    pool: ImagePool | None = None  # --pool: the generated images D is also shown
    translations: tuple[Tensor, Tensor | None] | None = None  # image-to-image: fixed sources, targets for grids
    frozen: dict[str, list[Tensor]] = field(default_factory=dict)  # phase -> parameters frozen while it updates

    @property
    def codes(self) -> tuple[Any, ...]:
        return tuple(getattr(self.G, "codes", ()) or ())


def load_data(cfg: TrainConfig, registry: Registry):
    spec, arg = registry.dataset(cfg.dataset)
    loader = load_target(spec, "dataset")
    return loader(arg=arg, data_dir=cfg.data_dir, download=cfg.download, seed=cfg.seed, image_size=cfg.image_size)


def train(cfg: TrainConfig, resume: bool = False, quiet: bool = False,
          registry: Registry | None = None, echo: Callable[[str], None] | None = None) -> TrainResult:
    """Train (or, with ``resume``, continue) the run described by ``cfg`` in ``cfg.out``."""
    if registry is None:
        from ganzoo.registry import get_registry

        registry = get_registry()
    echo = echo or (lambda msg: print(msg, file=sys.stderr))
    validate(cfg, registry)
    ctx = distributed.setup(cfg.device)
    out = Path(cfg.out)
    lock = RunLock(out)
    made: list[Path] = []  # what this run created in --out (rundir.create)
    try:
        result = _train(cfg, resume, quiet, registry, echo, ctx, lock, made)
        distributed.finish(ctx)
        return result
    finally:
        lock.release()
        distributed.cleanup(ctx)
        if made and not (out / rundir.CONFIG).exists():  # refused at its first step: discarded
            rundir.remove_empty(made)


def _train(cfg: TrainConfig, resume: bool, quiet: bool, registry: Registry, echo: Callable[[str], None],
           ctx: distributed.Context, lock: RunLock, made: list[Path]) -> TrainResult:
    talk = echo if ctx.is_main and not quiet else None
    run, start = _setup(cfg, resume, registry, talk, ctx, lock, made)
    if talk:
        talk(_start_line(run, start))
    stop = _StopFlag()
    clock = _Clock(start)
    window: list[dict[str, Tensor]] = []
    bar = _progress(cfg.steps, start, talk)
    step = start
    with stop.installed(), _board_closed(run):
        while step < cfg.steps:
            record: dict[str, Tensor] = {}
            if cfg.lr_decay:
                _decay_rates(run, step)
            try:
                for critic_step in range(cfg.n_critic):
                    d_ctx, fake_g = _d_update(run, step, critic_step, record)
                _g_update(run, step, d_ctx, fake_g, record)
            except GanzooError:
                # objectives show their terms only when they run (two adding one term, a term
                # that is no scalar): a new run refused at its first step was never a run
                if step == 0 and not resume and ctx.is_main:
                    bar.close()
                    rundir.discard(made)
                raise
            window.append(record)
            step += 1
            bar.update(1)
            if _maintain(run, step, window, stop, bar, clock):
                bar.close()
                raise Interrupted(run.run_dir, step, ctx.is_main)
    bar.close()
    return TrainResult(run.run_dir, step, clock.seconds(), clock.metrics, ctx.is_main)


# -- setup ---------------------------------------------------------------------------------
def _setup(cfg: TrainConfig, resume: bool, registry: Registry, echo: Callable[[str], None] | None,
           ctx: distributed.Context, lock: RunLock, made: list[Path]) -> tuple[Run, int]:
    run_dir = Path(cfg.out)
    spec = registry.model(cfg.model)
    device = ctx.device
    rundir.check_out(run_dir)
    _set_threads(cfg, device, run_dir if resume else None, ctx, echo)

    data = load_data(cfg, registry)
    if spec.conditional and not data.labelled:
        raise GanzooError(
            f"model '{cfg.model}' is conditional but data set '{cfg.dataset}' has no labels; "
            "use a labelled one (mnist5k, digits, or folder:PATH with one sub-folder per class)"
        )
    per_rank = (len(data) - getattr(data, "held_out", 0)) // ctx.world_size
    if cfg.batch_size > per_rank:
        raise GanzooError(
            f"--batch-size {cfg.batch_size} is larger than the data set ({per_rank} samples per process); "
            f"use --batch-size {max(1, per_rank)} or less"
        )
    num_classes = data.num_classes if spec.conditional else 0
    augment = _augment(cfg, data)

    source_shape = data.source_shape if getattr(data, "translation", False) else None
    torch.manual_seed(cfg.seed)
    G = build_generator(cfg, data.shape, num_classes, registry, source_shape).to(device)
    D = build_discriminator(cfg, data.shape, num_classes, registry, source_shape).to(device)
    if device.type == "cuda" and len(data.shape) == 3:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    parts = build_parts(cfg, registry)
    tuner = getattr(augment, "objective", None)  # ADA steers its probability from D's outputs
    if callable(tuner):
        parts.append(Part(tuner(cfg.batch_size), f"--augment {cfg.augment}", 1, f"augmentation '{cfg.augment}'"))
    setup = Setup(G=G, D=D, num_classes=num_classes, options=dict(cfg.options), device=device,
                  data_shape=tuple(data.shape), n_critic=cfg.n_critic, steps=cfg.steps, data_kind=data.kind,
                  source_shape=source_shape, adversarial=parts[0].objective, pool=cfg.pool)
    for part in parts:
        part.call("setup", setup)
    extra = {phase: [m.to(device) for part in parts for m in part.modules(phase).values()] for phase in ("d", "g")}
    opt_g = _adam([G, *extra["g"]], cfg.lr_g, cfg.betas, device)
    opt_d = _adam([D, *extra["d"]], cfg.lr_d, cfg.betas, device)
    ema = make_ema(G, cfg.ema_decay, device) if cfg.ema else None
    modules: dict[str, nn.Module] = {ckpt.GENERATOR: G, ckpt.DISCRIMINATOR: D}
    if ema is not None:
        modules[ckpt.GENERATOR_EMA] = ema.module
    held = nn.ModuleDict({f"p{i}_{phase}_{name}": m for i, part in enumerate(parts)
                          for phase in ("d", "g") for name, m in part.modules(phase).items()})
    if len(held):
        modules[OBJECTIVES_FILE] = held

    compile_d = cfg.compile and not any(p.double_backward for p in parts)
    if cfg.compile and not compile_d and echo:
        names = ", ".join(p.label for p in parts if p.double_backward)
        echo(f"note: --compile compiles G only: {names} differentiates (or, as a plugin API 1.0 regularizer, "
             "may differentiate) D's gradient, which compiled graphs do not support")
    G_run = torch.compile(G) if cfg.compile else G
    discriminate, D_run = _discriminator_runner(D, augment, compile_d)

    data, draw, stream = _batches(cfg, data, ctx, num_classes, echo)
    figure = _figure(cfg, data, num_classes, G) if cfg.eval_every and ctx.is_main else None
    run = Run(cfg=cfg, ctx=ctx, run_dir=run_dir, data=data, num_classes=num_classes, G=G, D=D, G_run=G_run,
              D_run=D_run, discriminate=discriminate, parts=parts, opt_g=opt_g, opt_d=opt_d, ema=ema,
              modules=modules, draw=draw, stream=stream,
              autocast=_autocast(cfg, device, None if spec.defaults_for(data.kind).amp else echo),
              sample_inputs=_sample_inputs(cfg, data, num_classes, codes_of(G), device),
              real_points=data.x[:2500].numpy() if data.kind == "points" else None,
              objective_modules=extra, figure=figure, pool=ImagePool(cfg.pool) if cfg.pool else None,
              translations=_translation_inputs(data, device))
    return run, _start(run, resume, lock, registry, echo, made)


def _start(run: Run, resume: bool, lock: RunLock, registry: Registry, echo: Callable[[str], None] | None,
           made: list[Path]) -> int:
    """Take the run folder (its lock; a new run's config.json, a resumed run's checkpoint)
    and return the step to start from: a resumed run without a checkpoint starts at 0."""
    cfg, ctx, run_dir = run.cfg, run.ctx, run.run_dir
    if ctx.is_main:
        if resume:
            rundir.reopen(run_dir, lock, echo, cfg.keep)
        else:
            rundir.create(run_dir, cfg, run.data, run.num_classes, ctx, registry, lock, made)
    distributed.barrier(ctx)
    start = 0
    if resume and ckpt.has_checkpoint(run_dir):
        start = _restore(run)
        if start >= cfg.steps:
            raise GanzooError(
                f"run '{run_dir}' is already at step {start}; pass --steps larger than {start} to continue")
        if ctx.enabled:  # only rank 0's RNG was saved: give every rank fresh, distinct noise
            torch.manual_seed(cfg.seed * 1000 + ctx.rank + 1 + start * 7919)
    else:
        if resume and echo:
            echo(f"note: '{run_dir}' stopped before its first checkpoint; starting it again from step 0 "
                 "with its config.json")
        if resume and ctx.is_main:
            rundir.truncate_metrics(run_dir, 0)
        torch.manual_seed(cfg.seed * 1000 + ctx.rank + 1)  # each rank its own noise
    if cfg.tensorboard and ctx.is_main:
        if not resume and not (run_dir / rundir.BOARD).exists():
            made.append(run_dir / rundir.BOARD)
        run.board = rundir.open_board(run_dir, start)
    if run.figure is not None and resume:
        run.best = _best_figures(run, echo)
    return start


def _start_line(run: Run, start: int) -> str:
    """Where the run goes and with what, printed once whatever stderr is: in a log file or
    a scheduler's output it is the first thing a reader looks for."""
    cfg, device = run.cfg, run.ctx.device
    where = str(device)
    if device.type == "cuda":
        where += f" ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    line = (f"{'resuming' if start else 'training'} {cfg.model} on {cfg.dataset}: step {start:,} of {cfg.steps:,}, "
            f"{where}, {threads} CPU thread{'s' if threads != 1 else ''}"
            + (f", {run.ctx.world_size} processes" if run.ctx.world_size > 1 else ""))
    if run.autocast is not contextlib.nullcontext:
        line += ", bf16 autocast"
    if run.figure is not None:
        line += f", {run.figure.names[0]} every {cfg.eval_every:,} steps on {run.figure.n:,} samples"
    if cfg.keep > 1:
        line += f", keeping {cfg.keep} checkpoints"
    return f"{line} -> {run.run_dir}"


@contextlib.contextmanager
def _board_closed(run: Run) -> Any:
    try:
        yield
    finally:
        if run.board is not None:
            run.board.close()


def _batches(cfg: TrainConfig, data: Any, ctx: distributed.Context, num_classes: int,
             echo: Callable[[str], None] | None
             ) -> tuple[Any, Callable[[], tuple[Tensor, Tensor | None, Tensor | None]], Any]:
    """(data, draw, stream): how this run draws its batches. Image files (folder:PATH) are
    decoded once into memory as uint8 when they fit the memory budget, else streamed by
    decode workers (--stream forces it); in-memory sets sit on the device when they fit and
    batches are drawn there by index, converted to float per batch. The choice is stored in
    the config, so a resumed run draws its batches the same way."""
    from ganzoo.data import to_float
    from ganzoo.data.files import ImageFiles, Stream

    device = ctx.device
    if not isinstance(data, ImageFiles) and (cfg.stream or cfg.data_budget_gb is not None):
        flag = "--stream" if cfg.stream else "--data-budget"
        raise GanzooError(f"{flag} applies to image files (folder:PATH); data set '{cfg.dataset}' is loaded whole: "
                          f"drop {flag}")
    if isinstance(data, ImageFiles):
        workers = cfg.workers or max(1, min(8, free_cores(int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world_size)))))
        budget = int((cfg.data_budget_gb or memory_gb() / 4) * 1024**3)
        if cfg.stream is None:  # under torchrun every rank draws the same way, even on machines of other sizes
            cfg.stream = distributed.any_rank(data.nbytes > budget, ctx)
        size = f"{len(data):,} images, {data.nbytes / 1024**3:.2f} GB as uint8"
        if cfg.stream:
            if echo:
                why = "--stream" if data.nbytes <= budget else f"over the {budget / 1024**3:.2f} GB memory budget"
                echo(f"streaming {data.name} ({size}, {why}) through {workers} decode worker(s)")
            stream = Stream(data, cfg.batch_size, cfg.seed, device, ctx.rank, ctx.world_size, workers,
                            with_labels=num_classes > 0)
            return data, lambda: (*stream(), None), stream
        if echo:
            echo(f"decoding {data.name} into memory ({size}) ...")
        data = data.load(workers)
    on_device = device.type == "cpu" or data.nbytes <= DEVICE_DATA_LIMIT
    x_all = data.x.to(device) if on_device else data.x.pin_memory()
    y_all = data.y.to(x_all.device) if data.y is not None else None
    held_out = getattr(data, "held_out", 0)  # a translation set's evaluation pairs are never drawn
    shard = torch.arange(ctx.rank, len(data) - held_out, ctx.world_size, device=x_all.device)
    sources = data.source if getattr(data, "translation", False) else None
    s_all = None if sources is None else sources.to(device) if on_device else sources.pin_memory()
    paired = data.kind == "pairs"
    s_shard = None if s_all is None or paired else \
        torch.arange(ctx.rank, len(s_all) - held_out, ctx.world_size, device=s_all.device)
    B = cfg.batch_size

    def draw() -> tuple[Tensor, Tensor | None, Tensor | None]:
        idx = shard[torch.randint(len(shard), (B,), device=shard.device)]
        real = to_float(x_all[idx].to(device, non_blocking=True))
        # num_classes > 0 only for conditional models, whose data set is labelled (checked above)
        labels = cast(Tensor, y_all)[idx].to(device, non_blocking=True) if num_classes else None
        source = None
        if s_all is not None:  # pairs: the targets' own sources; two domains: an independent draw
            s_idx = idx if s_shard is None else s_shard[torch.randint(len(s_shard), (B,), device=s_shard.device)]
            source = to_float(s_all[s_idx].to(device, non_blocking=True))
        return real, labels, source

    return data, draw, None


def memory_gb() -> float:
    """Physical memory of this machine in GB (16 where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError, AttributeError):
        return 16.0


def _set_threads(cfg: TrainConfig, device: torch.device, resumed: Path | None, ctx: distributed.Context,
                 echo: Callable[[str], None] | None) -> None:
    """CPU threads for this run: ``--threads`` or, by default, the cores other jobs leave
    free. On a busy machine two threads run up to 10x slower than one, because each
    step waits for the slower thread. A resumed run says when its thread count changed:
    float sums then differ in the last bits, so it is not bit-identical to an unbroken run."""
    if device.type != "cpu":
        return
    threads = cfg.threads or free_cores(int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world_size)))
    if cfg.threads or "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    before = rundir.recorded_threads(resumed) if resumed is not None else None
    if echo and before is not None and before != threads:
        echo(f"note: this run trained with {before} CPU threads and resumes with {threads}; sums then round "
             f"differently, so it will not match an uninterrupted run bit for bit (--threads {before} would)")


def free_cores(processes: int = 1) -> int:
    """This process's share of the cores that the 1-minute load average leaves free (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    share = max(1, cores // max(1, processes))
    try:
        busy = os.getloadavg()[0] / max(1, processes)
    except (AttributeError, OSError):
        busy = 0.0
    return max(1, min(share, round(share - busy)))


class _Augmented(nn.Module):
    """D behind an augmentation, for code that calls D directly (API 1.0 regularizers)."""

    def __init__(self, D: nn.Module, augment: nn.Module) -> None:
        super().__init__()
        self.inner, self.augment = D, augment

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.inner(self.augment(x), labels)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)


def _discriminator_runner(D: nn.Module, augment: nn.Module | None, compiled: bool
                          ) -> tuple[Callable[[Tensor, Tensor | None], Outputs], nn.Module]:
    """How the step runs D: augmentation first, all heads of a multi-head D in one pass,
    floating outputs in float32 (autocast may give bf16)."""
    # torch.compile returns an OptimizedModule (an nn.Module) for a module; its stub says Callable
    forward = cast(nn.Module, torch.compile(D)) if compiled else D
    heads = getattr(D, "heads", None)
    if heads is not None and compiled:
        heads = torch.compile(heads)

    def discriminate(x: Tensor, labels: Tensor | None) -> Outputs:
        if augment is not None:
            x = augment(x)
        out = heads(x, labels) if heads is not None else {"logits": forward(x, labels)}
        if not isinstance(out, dict) or "logits" not in out:
            raise GanzooError(f"the discriminator's heads() returned {type(out).__name__}; it must return "
                              "{'logits': [N], ...other heads} (docs/plugins.md §2)")
        return Outputs((k, v.float() if v.is_floating_point() else v) for k, v in out.items())

    return discriminate, (forward if augment is None else _Augmented(forward, augment))


def _augment(cfg: TrainConfig, data: Any) -> nn.Module | None:
    if cfg.augment is None:
        return None
    from ganzoo.augment import parse_augment

    augment = parse_augment(cfg.augment)
    if augment is not None and data.kind != "images":
        holds = "points" if data.kind == "points" else "source and target images"
        raise GanzooError(f"--augment {cfg.augment} applies to image sets; data set '{cfg.dataset}' holds {holds}: "
                          "drop --augment")
    return augment


# -- one step ------------------------------------------------------------------------------
def _step(run: Run, phase: Phase, step: int, d_step: int, real: Tensor, labels: Tensor | None, z: Tensor,
          codes: dict[str, Tensor], fake: Tensor, source: Tensor | None) -> Step:
    return Step(phase=phase, step=step, d_step=d_step, G=run.G, D=run.D_run, real=real, labels=labels, z=z,
                codes=codes, fake=fake, num_classes=run.num_classes, discriminate=run.discriminate, source=source)


def _d_update(run: Run, step: int, critic_step: int, record: dict[str, Tensor]) -> tuple[Step, Tensor]:
    """One discriminator update; returns its step context and the generated batch, whose
    graph is kept on the last critic step so G's update needs no second G forward."""
    cfg = run.cfg
    d_step = step * cfg.n_critic + critic_step
    real, labels, source = run.draw()
    device = real.device
    keep = critic_step == cfg.n_critic - 1
    if source is not None:  # image-to-image: the source is G's input, and there is no noise
        z, codes = real.new_zeros(cfg.batch_size, 0), {}
        with torch.set_grad_enabled(keep), run.autocast():
            fake_g = translate(run.G_run, source)
    else:
        z = torch.randn(cfg.batch_size, cfg.latent_dim, device=device)
        codes = sample_codes(run.G, cfg.batch_size, device)
        with torch.set_grad_enabled(keep), run.autocast():
            fake_g = generate(run.G_run, z, labels, codes)
    if any(p.needs_real_grad and p.due(d_step) for p in run.parts):
        real = real.detach().requires_grad_(True)
    fake = fake_g.detach() if run.pool is None else run.pool.query(fake_g)
    if any(p.needs_fake_grad and p.due(d_step) for p in run.parts):
        fake = fake.requires_grad_(True)
    ctx = _step(run, "d", step, d_step, real, labels, z, codes, fake, source)
    _update(run, ctx, d_step, record)
    for which in ("real", "fake"):
        out = ctx.computed(which)
        if out is not None:
            record[f"d_{which}"] = out.logits.detach().mean()
    return ctx, fake_g


def _g_update(run: Run, step: int, d_ctx: Step, fake_g: Tensor, record: dict[str, Tensor]) -> None:
    """One generator update on the last critic step's batch."""
    ctx = _step(run, "g", step, d_ctx.d_step, d_ctx.real.detach(), d_ctx.labels, d_ctx.z, d_ctx.codes, fake_g,
                d_ctx.source)
    _update(run, ctx, step, record)
    if run.ema is not None:
        update_ema(run.ema, run.G, step)


def _update(run: Run, ctx: Step, index: int, record: dict[str, Tensor]) -> None:
    """Sum the objectives' terms for one network and step its optimizer. The other side's
    networks are frozen, so gradients flow through them without accumulating there. With
    no terms at all (every objective returned {}), the update is skipped. ``record`` keeps
    the last value of every term: with several critic steps, a lazy term logged on one
    of them is not lost."""
    phase = ctx.phase
    network, optimizer = (run.D, run.opt_d) if phase == "d" else (run.G, run.opt_g)
    frozen = _frozen(run, phase)
    for p in frozen:
        p.requires_grad_(False)
    with run.autocast():
        terms, scales = collect_terms(run.parts, phase, ctx, index)
        loss = total(terms, scales)
    if loss is not None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for module in (network, *run.objective_modules[phase]):
            distributed.average_gradients(module, run.ctx)
        optimizer.step()
        record[f"{phase}_loss"] = loss.detach()
    for p in frozen:
        p.requires_grad_(True)
    record.update({f"{phase}/{name}": value.detach() for name, value in terms.items()})
    for name, value in ctx.logged.items():
        record[f"stat/{name}"] = value.detach() if isinstance(value, Tensor) else torch.tensor(float(value))


def _frozen(run: Run, phase: str) -> list[Tensor]:
    """The other side's trainable parameters, listed once per run: walking the modules
    for them at every update cost more than the toggling itself. Parameters frozen on purpose
    when first listed stay frozen; a network that changes which of its parameters train
    during a run is not expected (its optimizer was built for a fixed set)."""
    if phase not in run.frozen:
        others = [*run.objective_modules["g" if phase == "d" else "d"], *([run.D] if phase == "g" else [])]
        run.frozen[phase] = [p for module in others for p in module.parameters() if p.requires_grad]
    return run.frozen[phase]


def _decay_rates(run: Run, step: int) -> None:
    """Both learning rates at ``step`` under ``--lr-decay``: constant, then falling
    linearly to 0 over the last fraction of the run. A function of the step alone, so
    a resumed run follows the same schedule (its new total, when --steps grew)."""
    cfg = run.cfg
    factor = min(1.0, (cfg.steps - step) / (cfg.lr_decay * cfg.steps))
    for optimizer, rate in ((run.opt_g, cfg.lr_g), (run.opt_d, cfg.lr_d)):
        for group in optimizer.param_groups:
            group["lr"] = rate * factor


# -- interval work: logs, samples, checkpoints, evaluations ---------------------------------------
class _Clock:
    def __init__(self, start: int) -> None:
        self.t0 = self.last_t = time.time()
        self.last_step = start
        self.metrics: dict[str, float] = {}

    def seconds(self) -> float:
        return time.time() - self.t0


def _maintain(run: Run, step: int, window: list[dict[str, Tensor]], stop: _StopFlag, bar: Any,
              clock: _Clock) -> bool:
    """Logs, sample grids and checkpoints due after ``step``; True when the run must stop."""
    cfg, ctx = run.cfg, run.ctx
    last = step == cfg.steps
    log_step = step % cfg.log_every == 0 or last
    # Under torchrun every rank must agree to stop at the same step: ask them at log steps only.
    interrupted = distributed.any_rank(stop.requested, ctx) if log_step or not ctx.enabled else False
    save = step % cfg.ckpt_every == 0 or last or interrupted
    sample = step % cfg.sample_every == 0 or last or interrupted
    evaluate = cfg.eval_every > 0 and (step % cfg.eval_every == 0 or last)
    if run.ema is not None and (sample or save or evaluate):  # every rank: the same numbers, so the ranks stay equal
        recalibrate_batchnorm(run.ema.module, cfg.batch_size, cfg.seed, run.num_classes)
    figures: dict[str, float] = {}
    if log_step or interrupted or save or evaluate:
        now = time.time()
        metrics = _flush(window, step, run.run_dir)
        metrics["steps_per_s"] = round((step - clock.last_step) / max(now - clock.last_t, 1e-9), 2)
        metrics["elapsed_s"] = round(now - clock.t0, 2)
        if evaluate:
            _check_finite(run, step)  # every rank: they hold the same weights, so they agree
            if run.figure is not None:
                figures = _evaluate(run)
                metrics.update({f"eval/{name}": value for name, value in figures.items()})
                now = time.time()  # the next interval's steps/s counts training, not this evaluation
        clock.metrics, clock.last_t, clock.last_step = metrics, now, step
        window.clear()
        if ctx.is_main:
            rundir.append_metrics(run.run_dir, metrics)
            if run.board is not None:
                for key, value in metrics.items():
                    if key != "step":
                        run.board.add_scalar(key, value, step)
            bar.logged(metrics)
    if ctx.is_main and sample:
        path = rundir.sample_path(run.run_dir, step)
        _write_grid(run, run.ema.module if run.ema is not None else run.G, path)
        if run.board is not None:
            _board_samples(run, step, path)
    if save:
        for module in (run.G, run.D, *run.objective_modules["d"], *run.objective_modules["g"]):
            distributed.average_buffers(module, ctx)
            distributed.assert_in_sync(module, ctx)
        _check_finite(run, step)  # every rank: they hold the same weights, so they agree
        if ctx.is_main:
            _save(run, step)
            rundir.plot_losses(run.run_dir)
    if figures:
        _keep_best(run, step, figures, bar)
    return interrupted


def _figure(cfg: TrainConfig, data: Any, num_classes: int, G: nn.Module) -> Any:
    """The data set's figure for --eval-every, its reference prepared before the run folder
    exists, so a data set without one is an error before any file is written."""
    from ganzoo.metrics.quick import TrainingFigure

    return TrainingFigure(cfg.model, cfg.dataset, {"data_dir": cfg.data_dir, "image_size": cfg.image_size},
                          cfg.download, tuple(data.shape), cfg.latent_dim, num_classes,
                          [c.as_dict() for c in codes_of(G)], cfg.eval_n)


def _evaluate(run: Run) -> dict[str, float]:
    """The figure of the generator that ``ganzoo eval`` would score (EMA when the run keeps
    one), on this device, from the same numpy latents."""
    G = run.ema.module if run.ema is not None else run.G
    device = run.ctx.device

    @torch.no_grad()
    def produce(z: Any, labels: Any, codes: dict[str, Any] | None = None) -> Any:
        y = torch.from_numpy(labels).to(device) if labels is not None else None
        c = {k: torch.from_numpy(v).to(device) for k, v in (codes or {}).items()}
        return generate(G, torch.from_numpy(z).to(device), y, c or None).float().cpu().numpy()

    was_training = G.training
    G.eval()
    try:
        return cast("dict[str, float]", run.figure(produce))
    finally:
        G.train(was_training)


def _keep_best(run: Run, step: int, figures: dict[str, float], bar: Any) -> None:
    """Save the run as ``best/`` when ``figures`` beat the ones it holds (a tie keeps the earlier)."""
    shown = ", ".join(f"{name} {value:.4g}" for name, value in figures.items())
    if not run.figure.better(figures, run.best):
        bar.write(f"eval at step {step:,}: {shown} (best/ stays at {_shown_figures(run.best)})")
        return
    state = _state(run, step)
    state["eval"] = {"protocol": run.figure.protocol, "n": run.figure.n, "figures": dict(figures)}
    ckpt.save_checkpoint(run.run_dir, run.modules, state, name=ckpt.BEST)
    run.best = dict(figures)
    bar.write(f"eval at step {step:,}: {shown}; the best so far, saved as {run.run_dir / ckpt.BEST}")


def _shown_figures(figures: dict[str, float] | None) -> str:
    return ", ".join(f"{name} {value:.4g}" for name, value in (figures or {}).items())


def _best_figures(run: Run, echo: Callable[[str], None] | None) -> dict[str, float] | None:
    """The figures a resumed run's ``best/`` holds, which a new best must beat; None when it
    has none, or was scored another way (another protocol or sample count)."""
    if ckpt.previous_step(run.run_dir, ckpt.BEST) is None:
        return None
    try:
        saved = ckpt.load_state(ckpt.checkpoint_dir(run.run_dir, ckpt.BEST)).get("eval")
    except GanzooError:
        saved = None
    figure = run.figure
    if not isinstance(saved, dict) or saved.get("protocol") != figure.protocol or saved.get("n") != figure.n \
            or not isinstance(saved.get("figures"), dict):
        if echo:
            echo(f"note: {run.run_dir / ckpt.BEST} was not scored like this run's --eval-every ({figure.protocol}, "
                 f"{figure.n:,} samples); the next evaluation replaces it")
        return None
    return {str(k): float(v) for k, v in saved["figures"].items()}


def _check_finite(run: Run, step: int) -> None:
    """Non-finite weights are never saved: they would replace the last good checkpoint."""
    for filename, module in run.modules.items():
        bad = ckpt.non_finite(module)
        if bad:
            kept = ckpt.previous_step(run.run_dir)
            where = (f"the last good checkpoint (step {kept}) is intact in {run.run_dir}" if kept is not None
                     else "no checkpoint was written")
            raise Diverged(f"training diverged: {filename.split('.')[0]} weights are NaN or infinite at step {step} "
                           f"({', '.join(bad[:2])}{', ...' if len(bad) > 2 else ''}); not saved, {where}; "
                           "try lower learning rates (--lr-g/--lr-d) or another loss")


def _write_grid(run: Run, G: nn.Module, path: Path) -> None:
    """G's grid from the run's fixed inputs: samples, or an image-to-image model's translations."""
    if run.translations is not None:
        rundir.write_translations(G, *run.translations, run.data.domains or ("source", "target"), path)
    else:
        rundir.write_samples(G, *run.sample_inputs, run.data, run.real_points, path)


def _board_samples(run: Run, step: int, path: Path) -> None:
    """The step's sample grid in TensorBoard (``samples/ema`` with EMA), and with EMA the raw
    generator's grid beside it (``samples/raw``), from the same fixed inputs."""
    import tempfile

    import numpy as np
    from PIL import Image

    pictures = {"samples/ema" if run.ema is not None else "samples": path}
    with tempfile.TemporaryDirectory() as tmp:
        if run.ema is not None:
            pictures["samples/raw"] = Path(tmp) / "raw.png"
            _write_grid(run, run.G, pictures["samples/raw"])
        for tag, picture in pictures.items():
            with Image.open(picture) as im:
                run.board.add_image(tag, np.asarray(im.convert("RGB")), step, dataformats="HWC")
    run.board.flush()


def _postfix(metrics: dict[str, float]) -> str:
    """The terms alone, not the totals: a wrong weight shows up as one term dwarfing the others."""
    terms = [k for k in metrics if k.startswith(("d/", "g/", "stat/"))]
    return " ".join(f"{k}={metrics[k]:.3g}" for k in terms)


# -- helpers ---------------------------------------------------------------------------------
def _adam(modules: list[nn.Module], lr: float, betas: tuple[float, float], device: torch.device) -> Optimizer:
    """Adam over the trainable parameters of ``modules`` (G or D first, then the objectives'
    extra networks trained on the same side)."""
    return make_adam([p for module in modules for p in module.parameters() if p.requires_grad], lr, betas, device)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware: any CUDA device; a CPU with AVX512-BF16 or
    AMX. Elsewhere bf16 autocast is emulated and slower than float32, so --amp is refused."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def _autocast(cfg: TrainConfig, device: torch.device, echo):
    """bf16 autocast where the device computes it natively; elsewhere float32, with a note
    when --amp was asked for (``echo``; a model's default asks for nothing)."""
    if cfg.amp and native_bf16(device):
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    if cfg.amp and echo:
        echo(f"note: --amp: this {device.type} has no native bf16 (AVX512-BF16, AMX or CUDA); training in float32")
    return contextlib.nullcontext


#: Source images in a training run's translation grids.
TRANSLATION_SAMPLES = 8


def _translation_inputs(data: Any, device: torch.device) -> tuple[Tensor, Tensor | None] | None:
    """Fixed sources for an image-to-image run's grids, with their targets for a paired set
    (two domains: images of the target domain, for the way back): the first held-out ones,
    which training never draws, else the first ones."""
    from ganzoo.data import to_float

    if not getattr(data, "translation", False):
        return None
    n = min(TRANSLATION_SAMPLES, len(data), len(data.source))  # rows of one length, however small a domain

    def first(x: Tensor) -> Tensor:
        start = len(x) - data.held_out if data.held_out >= n else 0
        return to_float(x[start:start + n]).to(device)

    return first(data.source), first(data.x)


def _sample_inputs(cfg: TrainConfig, data: Any, num_classes: int, codes: tuple[Code, ...], device: torch.device
                   ) -> tuple[Tensor, Tensor | None, dict[str, Tensor]]:
    """Fixed inputs for sample grids, from their own generator so sampling never moves the
    training RNG. A coded generator (InfoGAN) gets one row per value of its first
    categorical code over the same 8 latents, its other codes at their middle value."""
    gen = torch.Generator().manual_seed(cfg.seed)
    labels: Tensor | None = None
    rows: dict[str, Tensor] = {}
    if getattr(data, "translation", False):  # image-to-image: no noise (grids use run.translations)
        return torch.zeros(0, 0, device=device), None, {}
    if data.kind == "points":
        n = 2500
        labels = torch.arange(n) % num_classes if num_classes else None
        z = torch.randn(n, cfg.latent_dim, generator=gen)
        rows = {c.name: c.sample(n, generator=gen) for c in codes}
    elif codes:
        first = next((c for c in codes if c.kind == "categorical"), None)
        values = first.size if first is not None else 8
        z = torch.randn(8, cfg.latent_dim, generator=gen).repeat(values, 1)
        for c in codes:
            if c is first:
                rows[c.name] = torch.arange(values).repeat_interleave(8)
            elif c.kind == "categorical":
                rows[c.name] = torch.zeros(8 * values, dtype=torch.int64)
            else:
                rows[c.name] = torch.full((8 * values,), (c.low + c.high) / 2)
        if num_classes:
            labels = torch.arange(8 * values) % num_classes
    elif num_classes:
        per_class = 8 if num_classes <= 10 else max(1, 64 // num_classes)
        labels = fixed_labels(min(num_classes, 26), per_class, torch.device("cpu"))
        z = torch.randn(len(labels), cfg.latent_dim, generator=gen)
    else:
        z = torch.randn(64, cfg.latent_dim, generator=gen)
    return (z.to(device), labels.to(device) if labels is not None else None,
            {k: v.to(device) for k, v in rows.items()})


def _flush(window: list[dict[str, Tensor]], step: int, run_dir: Path) -> dict[str, float]:
    """Bring the terms logged since the last log to the host (the loop's only sync), check
    them, and average each over the steps it was computed on (lazy terms skip steps)."""
    names = list(dict.fromkeys(name for record in window for name in record))
    flat = [(row, name, value) for row, record in enumerate(window) for name, value in record.items()]
    values = torch.stack([value.float() for _, _, value in flat]).cpu().tolist() if flat else []
    sums: dict[str, float] = dict.fromkeys(names, 0.0)
    counts: dict[str, int] = dict.fromkeys(names, 0)
    for (row, name, _), value in zip(flat, values):
        if not abs(value) <= LOSS_LIMIT:  # NaN, infinite, or exploding
            bad_step = step - len(window) + row + 1
            kept = ckpt.previous_step(run_dir)
            saved = f"; the last good checkpoint (step {kept}) is intact in {run_dir}" if kept is not None else ""
            what = f"{name} = {value:.3g}" + (f" (beyond ±{LOSS_LIMIT:.0e})" if abs(value) < float("inf") else "")
            raise Diverged(f"training diverged: {what} at step {bad_step}{saved}; "
                           "try lower learning rates (--lr-g/--lr-d) or another loss")
        sums[name] += value
        counts[name] += 1
    return {"step": step, **{name: round(sums[name] / counts[name], 6) for name in names}}


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _state(run: Run, step: int) -> dict[str, Any]:
    """state.pt: what a resume needs besides the weights."""
    state = {"step": step, "opt_g": run.opt_g.state_dict(), "opt_d": run.opt_d.state_dict(),
             "rng": _rng_state(run.ctx.device)}
    objectives = [part.call("state_dict") for part in run.parts]
    for part, saved in zip(run.parts, objectives):
        check_state(part, saved)
    if any(objectives):
        state["objectives"] = objectives
    if run.stream is not None:
        state["data"] = run.stream.state_dict()
    if run.pool is not None:
        state["pool"] = run.pool.state_dict()
    return state


def _save(run: Run, step: int) -> None:
    ckpt.save_checkpoint(run.run_dir, run.modules, _state(run, step), keep=run.cfg.keep)


def _restore(run: Run) -> int:
    where = ckpt.checkpoint_dir(run.run_dir)
    for filename, module in run.modules.items():
        path = where / filename
        if not path.is_file():
            raise GanzooError(f"checkpoint '{where}' lacks {filename}; it was written by a different configuration")
        ckpt.load_weights(path, module)
    state = ckpt.load_state(where)
    try:
        run.opt_g.load_state_dict(state["opt_g"])
        run.opt_d.load_state_dict(state["opt_d"])
        torch.set_rng_state(state["rng"]["cpu"])
        if run.ctx.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], run.ctx.device)
        step = int(state["step"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise GanzooError(f"corrupt checkpoint state in '{where}': {exc}") from None
    if run.stream is not None and "data" in state:
        run.stream.load_state_dict(state["data"])
    if run.pool is not None:
        run.pool.load_state_dict(state.get("pool") or {})
    for part, saved in zip(run.parts, state.get("objectives") or [{} for _ in run.parts]):
        if saved:
            part.call("load_state_dict", saved)  # a plugin's mistake here names the plugin, not the checkpoint
    rundir.truncate_metrics(run.run_dir, step)
    return step


def _progress(total: int, initial: int, echo: Callable[[str], None] | None) -> Any:
    """tqdm's bar on a terminal; plain lines (:class:`_Lines`) where stderr is a file or a
    pipe, as under a batch scheduler, where a bar's carriage returns pile up into one line;
    nothing with ``echo`` None (quiet, or not rank 0)."""
    if echo is None or not sys.stderr.isatty():
        return _Lines(total, initial, echo)
    return _Bar(total, initial)


class _Bar:
    """tqdm's bar, the terms of the last log step after it."""

    def __init__(self, total: int, initial: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, mininterval=0.5,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]")

    def update(self, n: int) -> None:
        self.bar.update(n)  # host-side only; tqdm redraws at most every half second

    def logged(self, metrics: dict[str, float]) -> None:
        self.bar.set_postfix_str(_postfix(metrics), refresh=False)

    def write(self, line: str) -> None:
        self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


#: Least seconds between two plain progress lines (the first log step and the last step always get one).
PLAIN_SECONDS = 30.0


class _Lines:
    """Progress as plain lines: at the first log step, then at log steps at least
    :data:`PLAIN_SECONDS` apart, and at the last step: step/total, steps/s and the time
    left over that stretch, and the losses."""

    def __init__(self, total: int, initial: int, echo: Callable[[str], None] | None,
                 every: float = PLAIN_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.n, self.echo, self.every, self.clock = total, initial, echo, every, clock
        self.last_n, self.last_t, self.printed = initial, clock(), False

    def update(self, n: int) -> None:
        self.n += n

    def logged(self, metrics: dict[str, float]) -> None:
        now = self.clock()
        if self.echo is None or (self.printed and now - self.last_t < self.every and self.n < self.total):
            return
        rate = (self.n - self.last_n) / max(now - self.last_t, 1e-9)
        left = f"{_duration((self.total - self.n) / rate)} left" if rate > 0 and self.n < self.total else "done"
        losses = "".join(f", {key} {metrics[key]:.4g}" for key in ("d_loss", "g_loss") if key in metrics)
        figures = "".join(f", {key} {value:.4g}" for key, value in metrics.items() if key.startswith("eval/"))
        self.echo(f"step {self.n:,}/{self.total:,} ({100 * self.n / self.total:.0f} %), {rate:.3g} steps/s, "
                  f"{left}{losses}{figures}")
        self.last_n, self.last_t, self.printed = self.n, now, True

    def write(self, line: str) -> None:
        if self.echo is not None:
            self.echo(line)

    def close(self) -> None:
        pass


def _duration(seconds: float) -> str:
    """1h02m, 4m05s, 12s: what a reader of a log wants from an ETA."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class _StopFlag:
    """SIGINT/SIGTERM set a flag; the loop finishes its step, saves and stops. People press
    Ctrl-C twice while a save is under way, so the second press changes nothing; only then
    is the default handler back, and a third press stops at once (without saving)."""

    def __init__(self) -> None:
        self.requested = False
        self.presses = 0

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        self.presses += 1
        if self.presses >= 2:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    @contextlib.contextmanager
    def installed(self):
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self._handle)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
