"""Checkpoints that survive a kill at any instant: safetensors weights plus a weights-only ``state.pt``.

A save writes a complete checkpoint into ``.checkpoint-ID.tmp``, flushes it to disk and
renames it ``.checkpoint-ID.ready``. Only then is the previous ``checkpoint/`` moved aside
(``.checkpoint.old``) and the new one renamed into place, and only after that is the old
one deleted. So at every instant a complete checkpoint is reachable — ``checkpoint/``, a
``.ready`` one, or ``.checkpoint.old``. A staged folder (``.ready`` or ``.old``) may also be
a stale copy or a damaged one, so it is trusted only after it is read whole (every file
there and parsing, weights finite, a step in ``state.pt``) and only when it is strictly
newer than a whole ``checkpoint/``: :func:`checkpoint_dir` picks by that rule without
moving anything; :func:`tidy` (run under the lock when training resumes) promotes the pick,
deletes the half-written ``.tmp`` folders and renames every staged folder it passes over
``.checkpoint-ID.rejected``, with a note, so no data is lost and no run rolls back.
Loading never unpickles code: weights are safetensors and ``state.pt`` is read with
``weights_only=True``.

``best/`` (``--eval-every``: the checkpoint with the best in-training figure) is written and
picked by the same rules under its own names (``.best-ID.ready``, ``.best.old``). With
``--keep N`` the checkpoint a save replaces is not deleted but renamed ``checkpoint-STEP/``
(one rename, so it is whole or absent), and the oldest of those beyond N - 1 are dropped:
renamed ``.checkpoint-ID.tmp`` first, so a kill half-way through a deletion leaves nothing
that looks like a checkpoint.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from ganzoo.errors import GanzooError, io_error, writing

CHECKPOINT = "checkpoint"
BEST = "best"  # the checkpoint with the best --eval-every figure
OLD = f".{CHECKPOINT}.old"
GENERATOR = "generator.safetensors"
GENERATOR_EMA = "generator_ema.safetensors"
DISCRIMINATOR = "discriminator.safetensors"
STATE = "state.pt"

#: Test hook: ``STAGE[@STEP]`` kills the process (SIGKILL) when a save reaches STAGE (at
#: STEP), the way a power cut or an OOM killer would. Stages, in order: ``writing`` (half
#: the files written), ``ready``, ``old-removed``, ``moved-aside``, ``swapped``.
KILL_ENV = "GANZOO_TEST_KILL_IN_SAVE"


def _kill_point(stage: str, step: int) -> None:
    wanted = os.environ.get(KILL_ENV)
    if not wanted:
        return
    name, _, at = wanted.partition("@")
    if name == stage and (not at or int(at) == step):
        os.kill(os.getpid(), signal.SIGKILL)


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def non_finite(module: nn.Module) -> list[str]:
    """Names of the floating tensors of ``module`` that hold a NaN or an infinity (one host sync)."""
    named = [(k, v) for k, v in module.state_dict().items() if v.is_floating_point() and v.numel()]
    if not named:
        return []
    ok = torch.stack([torch.isfinite(v).all() for _, v in named]).cpu().tolist()
    return [k for (k, _), good in zip(named, ok) if not good]


def _write(path: Path, data: bytes) -> None:
    """Write and flush to disk: a rename after this never exposes a half-written file."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _sync_folder(path: Path) -> None:
    """Make a rename inside ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(run_dir: Path, modules: dict[str, nn.Module], state: dict[str, Any], name: str = CHECKPOINT,
                    keep: int = 1) -> Path:
    """Write ``modules`` (file name → module) and ``state`` into run_dir/checkpoint (or
    run_dir/best, by ``name``) so that a kill at any instant leaves a complete checkpoint
    behind (see the module docstring); with ``keep`` > 1 the one replaced stays as
    ``checkpoint-STEP/``, up to ``keep`` - 1 of them. A failed write (disk full, read-only
    folder) is one line; the previous checkpoint stays."""
    run_dir = Path(run_dir)
    step = int(state.get("step", -1))
    tag = uuid.uuid4().hex[:8]
    tmp, ready = run_dir / f".{name}-{tag}.tmp", run_dir / f".{name}-{tag}.ready"
    try:
        tmp.mkdir(parents=True)
        for i, (filename, module) in enumerate(modules.items()):
            _write(tmp / filename, safetensors_bytes(_tensors(module)))
            if i == len(modules) // 2:
                _kill_point("writing", step)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        _write(tmp / STATE, buffer.getvalue())  # last: a folder with state.pt has everything
        tmp.rename(ready)
        _sync_folder(run_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = previous_step(run_dir, name)
        where = f"the checkpoint of step {kept} is intact" if kept is not None else "no checkpoint was written yet"
        raise GanzooError(f"{io_error(exc, run_dir / name, action='write the checkpoint')} ({where})") from None
    _kill_point("ready", step)
    try:
        _promote(run_dir, ready, step, name, keep)
    except OSError as exc:  # the new checkpoint is whole in `ready`; checkpoint_dir() finds it
        raise GanzooError(f"{io_error(exc)} (the checkpoint of step {step} is complete in '{ready}')") from None
    return run_dir / name


def _promote(run_dir: Path, ready: Path, step: int = -1, name: str = CHECKPOINT, keep: int = 1) -> None:
    """Put the complete checkpoint ``ready`` in place as ``checkpoint/`` (or ``best/``); at no
    instant is the run left without a complete checkpoint."""
    final, old = run_dir / name, run_dir / f".{name}.old"
    if old.exists():  # a complete newer one exists (ready): the older one may go now
        _retire(run_dir, old, name, keep)
    _kill_point("old-removed", step)
    if final.exists():
        final.rename(old)
    _kill_point("moved-aside", step)
    ready.rename(final)
    _sync_folder(run_dir)
    _kill_point("swapped", step)
    _retire(run_dir, old, name, keep)


KEPT_PREFIX = f"{CHECKPOINT}-"


def kept_name(step: int) -> str:
    """``checkpoint-001000``: zero-padded like the sample grids, so a listing sorts by step."""
    return f"{KEPT_PREFIX}{step:06d}"


def kept_checkpoints(run_dir: Path) -> dict[int, Path]:
    """The checkpoints ``--keep`` kept (``checkpoint-STEP/``), by step."""
    found = {}
    for folder in Path(run_dir).glob(f"{KEPT_PREFIX}*"):
        digits = folder.name[len(KEPT_PREFIX):]
        if digits.isdigit() and folder.is_dir():
            found[int(digits)] = folder
    return dict(sorted(found.items()))


def _retire(run_dir: Path, old: Path, name: str, keep: int) -> None:
    """A superseded checkpoint: kept as ``checkpoint-STEP/`` under ``--keep`` (it was whole:
    it was in place as ``checkpoint/``), else deleted; then the oldest kept ones beyond
    ``keep`` - 1 go."""
    if not old.exists():
        return
    step = _step_of(old) if keep > 1 and name == CHECKPOINT else None
    target = run_dir / kept_name(step) if step is not None else None
    try:
        if target is None or target.exists():
            raise FileExistsError(target)
        old.rename(target)
        _sync_folder(run_dir)
    except OSError:  # not kept (or it cannot be): it goes, as without --keep; the new checkpoint is in place
        _drop(run_dir, old)
    if name == CHECKPOINT:
        prune(run_dir, keep)


def prune(run_dir: Path, keep: int) -> None:
    """Leave the newest ``keep`` - 1 ``checkpoint-STEP/`` folders (``checkpoint/`` is the Nth)."""
    kept = kept_checkpoints(run_dir)
    for step in list(kept)[:max(0, len(kept) - (keep - 1))]:
        _drop(run_dir, kept[step])


def _drop(run_dir: Path, folder: Path) -> None:
    """Delete a checkpoint folder so that a kill half-way leaves a ``.tmp`` (which :func:`tidy`
    deletes), never a half-deleted folder under a checkpoint's name."""
    doomed = run_dir / f".{CHECKPOINT}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        folder.rename(doomed)
    except OSError:
        doomed = folder
    shutil.rmtree(doomed, ignore_errors=True)


def _verify(folder: Path, needed: set[str]) -> tuple[int | None, str]:
    """(step, "") when ``folder`` is a whole checkpoint, else (None, why not): every needed
    file is there, every weights file parses and is finite, state.pt loads and has a step."""
    if not folder.is_dir():
        return None, "not a folder"
    missing = sorted(name for name in needed if not (folder / name).is_file())
    if missing:
        return None, f"{', '.join(missing)} missing"
    for path in sorted(folder.glob("*.safetensors")):
        try:
            tensors = load_file(str(path))
        except Exception:  # safetensors raises its own error, or OSError, or worse on odd bytes
            return None, f"{path.name} unreadable"
        if not all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point()):
            return None, f"{path.name} holds NaN or infinite weights"
    try:
        state = torch.load(folder / STATE, map_location="cpu", weights_only=True)
    except Exception:  # what torch raises on foreign bytes varies: IndexError, UnpicklingError, ...
        return None, f"{STATE} unreadable"
    step = state.get("step") if isinstance(state, dict) else None
    if not isinstance(step, int) or isinstance(step, bool):
        return None, f"{STATE} holds no step"
    return step, ""


def _shown(folder: Path) -> str:
    return f"{folder.name}/" if folder.name in (CHECKPOINT, BEST) else folder.name


def _survey(run_dir: Path, name: str = CHECKPOINT
            ) -> tuple[Path | None, int | None, list[tuple[Path, int | None, str]]]:
    """The checkpoint to use, its step (None when nothing was checked) and every other
    checkpoint folder with its step (None when damaged) and why it is not used. With no
    staged folder ``checkpoint/`` is taken unread (loading it checks it); else every folder
    is verified and the newest whole one wins, ``checkpoint/`` before ``.checkpoint.old``
    before a ``.ready`` of the same step: a staged folder is only used when it is strictly
    newer than a whole ``checkpoint/``. ``name`` picks ``best/`` by the same rule."""
    final, old = run_dir / name, run_dir / f".{name}.old"
    staged = sorted(run_dir.glob(f".{name}-*.ready")) + ([old] if old.is_dir() else [])
    if not staged:
        return (final if final.is_dir() else None), None, []
    needed = {GENERATOR, DISCRIMINATOR, STATE}
    base = {*needed, *(p.name for p in final.glob("*.safetensors"))}
    checked = [(final, *_verify(final, needed))] if final.is_dir() else []
    checked += [(folder, *_verify(folder, base)) for folder in staged]
    rank = {final: 2, old: 1}
    whole = [(step, rank.get(folder, 0), folder) for folder, step, _ in checked if step is not None]
    if not whole:
        return None, None, checked
    best, _, chosen = max(whole, key=lambda w: w[:2])
    others = []
    for folder, step, why in checked:
        if folder != chosen:
            than = "older than" if step is not None and step < best else "not newer than"
            others.append((folder, step, why or f"step {step}, {than} {_shown(chosen)} at step {best}"))
    return chosen, best, others


def previous_step(run_dir: Path, name: str = CHECKPOINT) -> int | None:
    """The step of the checkpoint a resume would use (or of ``best/``), or None when there is none."""
    if not Path(run_dir).is_dir():
        return None
    chosen, step, _ = _survey(Path(run_dir), name)
    return step if step is not None or chosen is None else _step_of(chosen)


def _step_of(folder: Path) -> int | None:
    """The step in ``folder``'s state.pt, read memory-mapped: the optimizer states it also
    holds are not read."""
    try:
        return int(torch.load(folder / STATE, map_location="cpu", weights_only=True, mmap=True)["step"])
    except Exception:  # what torch raises on foreign bytes varies; None means "unknown"
        return None


def has_checkpoint(run_dir: Path) -> bool:
    """Whether a resume has a checkpoint to continue from: a damaged ``checkpoint/`` or
    ``.checkpoint.old`` counts, so that resuming names the damage instead of starting over."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return False
    return (run_dir / CHECKPOINT).is_dir() or (run_dir / OLD).is_dir() or _survey(run_dir)[0] is not None


def _set_aside(folder: Path, name: str = CHECKPOINT) -> Path:
    aside = folder.with_suffix(".rejected") if folder.name.endswith(".ready") else folder
    if aside == folder or aside.exists():
        aside = folder.parent / f".{name}-{uuid.uuid4().hex[:8]}.rejected"
    folder.rename(aside)
    return aside


def tidy(run_dir: Path, echo: Callable[[str], None] | None = None, keep: int = 1) -> None:
    """Undo what a kill during a save left, before training resumes (called by the process
    that holds the run folder's lock): half-written ``.tmp`` folders are deleted and the
    checkpoint :func:`_survey` picks becomes ``checkpoint/``. A staged folder that is not
    used is renamed ``.checkpoint-ID.rejected``, never deleted, with one note through
    ``echo`` (stderr when None); so is a damaged ``checkpoint/`` that a whole staged one
    replaces. ``.checkpoint.old`` is the superseded checkpoint: once another is used it is
    deleted, or kept as ``checkpoint-STEP/`` under ``keep`` > 1 (damaged, it is a deletion a
    kill cut short); when nothing whole is left it and ``checkpoint/`` stay where they are,
    for :func:`checkpoint_dir` to name the damage. ``best/`` is tidied by the same rules."""
    run_dir = Path(run_dir)
    say = echo or (lambda line: print(line, file=sys.stderr))
    with writing(run_dir, "fix its permissions or free some space, then resume", action="tidy the checkpoints in"):
        for name in (CHECKPOINT, BEST):
            _tidy(run_dir, name, say, keep)


def _tidy(run_dir: Path, name: str, say: Callable[[str], None], keep: int) -> None:
    final, old = run_dir / name, run_dir / f".{name}.old"
    for tmp in run_dir.glob(f".{name}-*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)
    chosen, step, others = _survey(run_dir, name)
    if name == BEST:
        after = f"{BEST}/ is at step {step}" if chosen is not None else f"no whole {BEST}/ checkpoint is left"
    else:
        after = f"the run continues from step {step}" if chosen is not None else "no whole checkpoint is left"
    for folder, kept, why in others:
        if chosen is None and folder in (final, old):
            continue  # left in place: resuming names their damage
        if folder == old:
            if kept is not None:
                _retire(run_dir, old, name, keep)
            else:
                shutil.rmtree(old)
        elif folder != final or kept is None:  # a whole, older checkpoint/ is replaced as a save does it
            say(f"note: set aside '{_shown(folder)}' as '{_set_aside(folder, name).name}' ({why}); {after}")
    if chosen == old:
        old.rename(final)
        _sync_folder(run_dir)
    elif chosen is not None and chosen != final:
        _promote(run_dir, chosen, name=name, keep=keep)
    elif final.is_dir() and old.is_dir():
        shutil.rmtree(old)


def checkpoint_dir(run_dir: Path, name: str = CHECKPOINT) -> Path:
    """The checkpoint a resume, sample, export or eval reads (``checkpoint/``, or ``best/`` by
    ``name``), wherever a killed save left it (see :func:`_survey`); nothing is moved, so this
    runs without the run folder's lock."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GanzooError(f"run directory '{run_dir}' does not exist")
    chosen, _, others = _survey(run_dir, name)
    if chosen is None and others:  # a save running beside us may have renamed folders as they were read
        chosen, _, others = _survey(run_dir, name)
    if chosen is not None:
        return chosen
    what = "best checkpoint" if name == BEST else "checkpoint"
    if others:
        damage = "; ".join(f"'{_shown(folder)}': {why}" for folder, _, why in others)
        raise GanzooError(f"run directory '{run_dir}' holds no whole {what} ({damage}); restore one from a backup "
                          f"or start the run again with a new --out")
    if name == BEST:
        raise GanzooError(f"run directory '{run_dir}' has no best checkpoint (it is kept only by training with "
                          f"--eval-every K); drop --checkpoint best, or continue it with: ganzoo train --resume "
                          f"{run_dir} --eval-every K")
    raise GanzooError(f"run directory '{run_dir}' has no checkpoint yet (training stopped before its first one); "
                      f"continue it with: ganzoo train --resume {run_dir}")


#: What ``--checkpoint`` takes besides a step number.
LATEST = "latest"


def find_checkpoint(run_dir: Path, which: str | None = None) -> Path:
    """The checkpoint folder ``--checkpoint WHICH`` names: ``latest`` (None: the same),
    ``best``, or a step number (a ``checkpoint-STEP/`` that ``--keep`` kept, or the latest
    when it is at that step)."""
    run_dir = Path(run_dir)
    which = (which or LATEST).strip().lower()
    if which == LATEST:
        return checkpoint_dir(run_dir)
    if which == BEST:
        return checkpoint_dir(run_dir, BEST)
    if not (which.isascii() and which.isdigit()):
        raise GanzooError(f"--checkpoint must be latest, best or a step number, got '{which}'")
    step = int(which)
    kept = kept_checkpoints(run_dir) if run_dir.is_dir() else {}
    if step in kept:
        return kept[step]
    latest = checkpoint_dir(run_dir)
    if _step_of(latest) == step:
        return latest
    have = [f"latest (step {_step_of(latest)})", *(str(k) for k in kept)]
    if (run_dir / BEST).is_dir():
        have.append("best")
    raise GanzooError(f"run directory '{run_dir}' has no checkpoint of step {step} (train with --keep N to keep "
                      f"older ones); --checkpoint takes: {', '.join(have)}")


def load_weights(path: Path, module: nn.Module) -> None:
    """Load safetensors weights into ``module`` with a one-line error when they do not fit
    or are not finite (a diverged run's weights would only give NaN pictures)."""
    try:
        tensors = load_file(str(path))
    except Exception as exc:
        raise GanzooError(f"corrupt weights file '{path}': {exc}; restore it or train again") from None
    try:
        module.load_state_dict(tensors)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise GanzooError(f"weights in '{path}' do not fit the model: {detail}") from None
    bad = non_finite(module)
    if bad:
        raise GanzooError(f"weights in '{path}' are not finite (NaN or inf in {', '.join(bad[:3])}"
                          f"{', ...' if len(bad) > 3 else ''}): the run diverged before this checkpoint was written; "
                          "train again with lower learning rates (--lr-g/--lr-d)")


def load_state(ckpt: Path) -> dict[str, Any]:
    try:
        return torch.load(ckpt / STATE, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GanzooError(
            f"corrupt checkpoint state '{ckpt / STATE}': {type(exc).__name__}; restore it or train again") from None
