"""One training loop for every model.

Read it top to bottom: load data, build G and D from the model's spec, then
alternate ``n_critic`` discriminator steps with one generator step. Everything
model-specific comes from the spec, the loss and the regularizers. The loop
touches the host only at log steps; in-memory data sets sit on the device and
batches are drawn by index.
"""

from __future__ import annotations

import contextlib
import json
import platform
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ganzoo.engine import checkpoint as ckpt
from ganzoo.engine import distributed
from ganzoo.engine.build import (
    build_discriminator,
    build_generator,
    build_loss,
    build_regularizers,
    fixed_labels,
)
from ganzoo.engine.config import TrainConfig, save_json, validate
from ganzoo.errors import GanzooError
from ganzoo.registry import Registry, get_registry
from ganzoo.specs import resolve

LOGGED = ("d_loss", "g_loss", "d_real", "d_fake")
DEVICE_DATA_LIMIT = 2 * 1024**3  # bytes of data kept whole on an accelerator


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the run was saved at ``step`` and can be resumed."""

    def __init__(self, run_dir: Path, step: int, is_main: bool = True) -> None:
        super().__init__(f"interrupted at step {step}")
        self.run_dir, self.step, self.is_main = run_dir, step, is_main


class Diverged(GanzooError):
    """A loss became NaN or infinite; the last good checkpoint is left as it was."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    seconds: float
    metrics: dict[str, float]
    is_main: bool = True  # False on the other ranks of a torchrun job


def load_data(cfg: TrainConfig, registry: Registry):
    spec, arg = registry.dataset(cfg.dataset)
    loader = resolve(spec.target)
    return loader(arg=arg, data_dir=cfg.data_dir, download=cfg.download, seed=cfg.seed, image_size=cfg.image_size)


def train(cfg: TrainConfig, resume: bool = False, quiet: bool = False,
          registry: Registry | None = None, echo: Callable[[str], None] | None = None) -> TrainResult:
    """Train (or, with ``resume``, continue) the run described by ``cfg`` in ``cfg.out``."""
    registry = registry or get_registry()
    echo = echo or (lambda msg: print(msg, file=sys.stderr))
    validate(cfg, registry)
    ctx = distributed.setup(cfg.device)
    try:
        result = _train(cfg, resume, quiet, registry, echo, ctx)
        distributed.finish(ctx)
        return result
    finally:
        distributed.cleanup(ctx)


def _train(cfg, resume, quiet, registry, echo, ctx) -> TrainResult:
    run_dir = Path(cfg.out)
    spec = registry.model(cfg.model)
    device = ctx.device

    # -- data ------------------------------------------------------------------------
    data = load_data(cfg, registry)
    if spec.conditional and not data.labelled:
        raise GanzooError(
            f"model '{cfg.model}' is conditional but data set '{cfg.dataset}' has no labels; "
            "use a labelled one (mnist5k, digits, or folder:PATH with one sub-folder per class)"
        )
    per_rank = len(data) // ctx.world_size
    if cfg.batch_size > per_rank:
        raise GanzooError(
            f"--batch-size {cfg.batch_size} is larger than the data set ({per_rank} samples per process); "
            f"use --batch-size {max(1, per_rank)} or less"
        )
    num_classes = data.num_classes if spec.conditional else 0
    on_device = device.type == "cpu" or data.x.numel() * 4 <= DEVICE_DATA_LIMIT
    x_all = data.x.to(device) if on_device else data.x.pin_memory()
    y_all = data.y.to(x_all.device) if data.y is not None else None
    shard = torch.arange(ctx.rank, len(data), ctx.world_size, device=x_all.device)

    # -- models, losses, optimizers ----------------------------------------------------
    torch.manual_seed(cfg.seed)
    G = build_generator(cfg, data.shape, num_classes, registry).to(device)
    D = build_discriminator(cfg, data.shape, num_classes, registry).to(device)
    if device.type == "cuda" and len(data.shape) == 3:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    loss = build_loss(cfg, registry)
    regularizers = build_regularizers(cfg, registry)
    for reg in regularizers:
        reg.check(D, num_classes)
    opt_g = _adam(G, cfg.lr_g, cfg.betas, device)
    opt_d = _adam(D, cfg.lr_d, cfg.betas, device)
    ema = None
    if cfg.ema:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(G, decay=cfg.ema_decay, device=device)
    modules = {ckpt.GENERATOR: G, ckpt.DISCRIMINATOR: D}
    if ema is not None:
        modules[ckpt.GENERATOR_EMA] = ema.module

    start = 0
    if resume:
        start = _restore(run_dir, modules, opt_g, opt_d, device)
        if start >= cfg.steps:
            raise GanzooError(f"run '{run_dir}' is already at step {start}; pass --steps larger than {start} to continue")
        if ctx.enabled:  # only rank 0's RNG was saved: give every rank fresh, distinct noise
            torch.manual_seed(cfg.seed * 1000 + ctx.rank + 1 + start * 7919)
    else:
        torch.manual_seed(cfg.seed * 1000 + ctx.rank + 1)  # each rank its own noise
        if ctx.is_main:
            _new_run_dir(run_dir, cfg, data, num_classes, ctx, registry)

    G_run, D_run = (torch.compile(G), torch.compile(D)) if cfg.compile else (G, D)
    autocast = _autocast(cfg, device, echo if ctx.is_main and not quiet else None)
    B, latent = cfg.batch_size, cfg.latent_dim

    def draw():
        idx = shard[torch.randint(len(shard), (B,), device=shard.device)]
        real = x_all[idx].to(device, non_blocking=True)
        labels = y_all[idx].to(device, non_blocking=True) if num_classes else None
        return real, labels

    # Fixed inputs for sample grids: their own generator, so sampling never moves training RNG.
    sample_z, sample_labels = _sample_inputs(cfg, data, num_classes, device)
    real_points = data.x[:2500].numpy() if data.kind == "points" else None

    # -- the loop ------------------------------------------------------------------------
    stop = _StopFlag()
    window: list[torch.Tensor] = []
    metrics: dict[str, float] = {}
    t0, last_t, last_step = time.time(), time.time(), start
    bar = _progress(cfg.steps, start, quiet or not ctx.is_main)
    step = start
    with stop.installed():
        while step < cfg.steps:
            for critic_step in range(cfg.n_critic):
                real, labels = draw()
                z = torch.randn(B, latent, device=device)
                # The last critic step's fakes are kept, with their graph, for G's step:
                # one generator forward per step instead of two (as the PyTorch DCGAN example does).
                keep = critic_step == cfg.n_critic - 1
                with torch.set_grad_enabled(keep), autocast():
                    fake_g = G_run(z, labels)
                fake = fake_g.detach()
                with autocast():
                    real_logits, fake_logits = D_run(real, labels), D_run(fake, labels)
                    d_loss = loss.d_loss(real_logits.float(), fake_logits.float())
                    for reg in regularizers:
                        term = reg.d_term(D_run, real, fake, labels)
                        if term is not None:
                            d_loss = d_loss + term
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                distributed.average_gradients(D, ctx)
                opt_d.step()

            D.requires_grad_(False)  # G's step needs gradients through D, not for D
            with autocast():
                g_loss = loss.g_loss(D_run(fake_g, labels).float())
                for reg in regularizers:
                    term = reg.g_term(D_run, fake_g, labels)
                    if term is not None:
                        g_loss = g_loss + term
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            distributed.average_gradients(G, ctx)
            opt_g.step()
            D.requires_grad_(True)
            if ema is not None:
                ema.update(G, step=step)

            window.append(torch.stack([d_loss.detach(), g_loss.detach(),
                                       real_logits.detach().float().mean(), fake_logits.detach().float().mean()]))
            step += 1
            last = step == cfg.steps
            log_step = step % cfg.log_every == 0 or last
            # Under torchrun every rank must agree to stop at the same step: ask them at log steps only.
            interrupted = distributed.any_rank(stop.requested, ctx) if log_step or not ctx.enabled else False
            if log_step or interrupted or step % cfg.ckpt_every == 0:
                now = time.time()
                metrics = _flush(window, step, run_dir / ckpt.CHECKPOINT)
                metrics["steps_per_s"] = round((step - last_step) / max(now - last_t, 1e-9), 2)
                metrics["elapsed_s"] = round(now - t0, 2)
                last_t, last_step = now, step
                window.clear()
                if ctx.is_main:
                    with open(run_dir / "metrics.jsonl", "a") as fh:
                        fh.write(json.dumps(metrics) + "\n")
                    bar.set_postfix(d=f"{metrics['d_loss']:.3f}", g=f"{metrics['g_loss']:.3f}", refresh=False)
                    bar.update(step - bar.n)
            if ctx.is_main and (step % cfg.sample_every == 0 or last or interrupted):
                _write_samples(ema.module if ema is not None else G, sample_z, sample_labels, data, real_points,
                               run_dir / "samples" / f"step-{step:06d}.png")
            if step % cfg.ckpt_every == 0 or last or interrupted:
                for module in (G, D):
                    distributed.average_buffers(module, ctx)
                    distributed.assert_in_sync(module, ctx)
                if ctx.is_main:
                    _save(run_dir, modules, opt_g, opt_d, step, device)
            if interrupted:
                bar.close()
                raise Interrupted(run_dir, step, ctx.is_main)
    bar.close()
    return TrainResult(run_dir, step, time.time() - t0, metrics, ctx.is_main)


# -- helpers ---------------------------------------------------------------------------------
def _adam(module: torch.nn.Module, lr: float, betas, device: torch.device) -> torch.optim.Optimizer:
    params = [p for p in module.parameters() if p.requires_grad]
    fused = device.type in ("cuda", "cpu")
    try:
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), fused=fused, foreach=None if fused else True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), foreach=True)


def _autocast(cfg: TrainConfig, device: torch.device, echo):
    if cfg.amp and device.type == "cuda":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    if cfg.amp and echo:
        echo(f"note: --amp uses bf16 autocast on CUDA only; training in float32 on {device.type}")
    return contextlib.nullcontext


def _sample_inputs(cfg, data, num_classes: int, device):
    gen = torch.Generator().manual_seed(cfg.seed)
    if data.kind == "points":
        n = 2500
        labels = torch.arange(n) % num_classes if num_classes else None
    elif num_classes:
        per_class = 8 if num_classes <= 10 else max(1, 64 // num_classes)
        labels = fixed_labels(min(num_classes, 26), per_class, torch.device("cpu"))
        n = len(labels)
    else:
        n, labels = 64, None
    z = torch.randn(n, cfg.latent_dim, generator=gen)
    return z.to(device), (labels.to(device) if labels is not None else None)


@torch.no_grad()
def _write_samples(G, z, labels, data, real_points, path: Path) -> None:
    from ganzoo.grid import save_image_grid, save_scatter

    was_training = G.training
    G.eval()
    out = G(z, labels).float().cpu().numpy()
    G.train(was_training)
    if data.kind == "points":
        modes = data.modes.numpy() if data.modes is not None else None
        save_scatter(out, path, real=real_points, modes=modes, title=path.stem)
    else:
        nrow = int((labels == labels[0]).sum()) if labels is not None else 8
        save_image_grid(out, path, nrow=nrow)


def _flush(window: list[torch.Tensor], step: int, ckpt_dir_hint: Path) -> dict[str, float]:
    """Bring the losses since the last log to the host (the loop's only sync) and check them."""
    values = torch.stack(window).cpu()
    finite = torch.isfinite(values)
    if not bool(finite.all()):
        row = int((~finite.all(dim=1)).nonzero()[0])
        col = int((~finite[row]).nonzero()[0])
        bad_step = step - len(window) + row + 1
        saved = ""
        state = ckpt_dir_hint / ckpt.STATE
        if state.exists():
            saved = f"; the last good checkpoint (step {_saved_step(ckpt_dir_hint)}) is intact in {ckpt_dir_hint}"
        raise Diverged(
            f"training diverged: {LOGGED[col]} = {float(values[row, col])} at step {bad_step}{saved}; "
            "try lower learning rates (--lr-g/--lr-d) or another loss"
        )
    means = values.mean(dim=0).tolist()
    return {"step": step, **{name: round(v, 6) for name, v in zip(LOGGED, means)}}


def _saved_step(ckpt_path: Path) -> int:
    try:
        return int(ckpt.load_state(ckpt_path)["step"])
    except Exception:
        return -1


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _save(run_dir: Path, modules, opt_g, opt_d, step: int, device) -> None:
    state = {"step": step, "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": _rng_state(device)}
    ckpt.save_checkpoint(run_dir, modules, state)
    _plot_losses(run_dir)


def _restore(run_dir: Path, modules, opt_g, opt_d, device) -> int:
    where = ckpt.checkpoint_dir(run_dir)
    for filename, module in modules.items():
        path = where / filename
        if not path.is_file():
            raise GanzooError(f"checkpoint '{where}' lacks {filename}; it was written by a different configuration")
        ckpt.load_weights(path, module)
    state = ckpt.load_state(where)
    try:
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        torch.set_rng_state(state["rng"]["cpu"])
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        step = int(state["step"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise GanzooError(f"corrupt checkpoint state in '{where}': {exc}") from None
    _truncate_metrics(run_dir / "metrics.jsonl", step)
    return step


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from, so steps never repeat."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in kept))


def _new_run_dir(run_dir: Path, cfg: TrainConfig, data, num_classes: int, ctx, registry: Registry) -> None:
    if (run_dir / "config.json").exists() or (run_dir / ckpt.CHECKPOINT).exists():
        raise GanzooError(f"'{run_dir}' already holds a run; continue it with --resume {run_dir} or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "samples").mkdir(exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("")
    meta = cfg.to_dict()
    meta["data"] = {
        "shape": list(data.shape), "num_classes": data.num_classes, "model_classes": num_classes,
        "kind": data.kind, "size": len(data),
        "modes": data.modes.tolist() if data.modes is not None else None, "sigma": data.sigma,
    }
    meta["runtime"] = {
        "device": str(ctx.device), "world_size": ctx.world_size,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
        "torch": torch.__version__,
    }
    meta["versions"] = {p.name: p.version for p in registry.plugins}
    save_json(run_dir / "config.json", meta)


def _plot_losses(run_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    if not rows:
        return
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, [r["d_loss"] for r in rows], label="D loss")
    ax.plot(steps, [r["g_loss"] for r in rows], label="G loss")
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "losses.png")
    plt.close(fig)


def _progress(total: int, initial: int, disable: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=disable, unit="step", dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]")


class _StopFlag:
    """SIGINT/SIGTERM set a flag; the loop finishes its step, saves and stops.
    A second Ctrl-C restores the default handler, so a third one kills at once."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum, frame) -> None:
        self.requested = True
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
