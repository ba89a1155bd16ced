"""The JSON files a user can hand over (a run's ``config.json``, an image set's
``dataset.json``), read with a size cap and checked key by key before anything trusts them.

Torch-free on purpose: ``ganzoo bench`` reads run folders on machines without torch. A
file edited by hand, copied half-way or crafted to hurt must end in one line naming the
file, the key and what it should hold, never in a traceback deep inside the command that
happened to read it, nor in gigabytes spent parsing it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError, io_error
from ganzoo.limits import BATCH_MAX, EVAL_N_MAX, IMAGE_SIZE_MAX, LATENT_MAX, N_CRITIC_MAX, SEED_MAX, STEPS_MAX

#: Largest config.json / dataset.json read (a real one is kilobytes; 70,000 labels are ~3 MB).
MAX_JSON_BYTES = 16 * 1024**2
#: Bounds on what a run's or a file's numbers may ask ganzoo to allocate.
MAX_CLASSES = 100_000
MAX_SIDE = 8_192  # pixels along one side of an image sample
MAX_POINT_DIM = 65_536
#: A class name (a sub-folder's name, an emoji group) is shown in grid rows, the demo's picker and
#: error lines: 100 characters hold any real one; the whole list, as JSON in config.json and in
#: the ONNX metadata ``ganzoo.class_names``, stays under 4 MB (MAX_CLASSES names of ~40 characters).
MAX_CLASS_NAME = 100
MAX_CLASS_NAMES_BYTES = 4 * 1024**2


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes, where: str, fix: str) -> Any:
    """``raw`` as JSON: strict UTF-8, no NaN or Infinity, nesting and integers within what
    Python parses without a traceback; one line naming ``where`` otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GanzooError(f"'{where}' is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          f"{fix}") from None
    try:
        return json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise GanzooError(f"'{where}' nests too deeply to be what ganzoo wrote; {fix}") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers of thousands of digits
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GanzooError(f"'{where}' is not valid JSON ({reason}); {fix}") from None


def check_size(size: int, where: str, fix: str, cap: int = MAX_JSON_BYTES) -> None:
    if size > cap:
        raise GanzooError(f"'{where}' is {size / 1024**2:.1f} MB, over the {cap / 1024**2:.0f} MB limit for "
                          f"this file; {fix}")


def read_json(path: Path, fix: str, cap: int = MAX_JSON_BYTES) -> Any:
    """A JSON file's value, its size checked before a byte is read."""
    try:
        if not path.is_file():
            raise GanzooError(f"'{path}' is not a regular file; {fix}")
        check_size(path.stat().st_size, str(path), fix, cap)
        with path.open("rb") as handle:
            raw = handle.read(cap + 1)  # a file that grows after the check still stops here
    except OSError as exc:
        raise io_error(exc, path, fix, action="read") from None
    check_size(len(raw), str(path), fix, cap)
    return parse_json(raw, str(path), fix)


# -- a small checker: each rule returns what the value should be, or None when it is fine ---------
Rule = Callable[[Any], "str | None"]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def integer(low: int = 0, high: int | None = None) -> Rule:
    want = f"an integer >= {low}" if high is None else f"an integer in {low}..{high:,}"
    return lambda v: None if _is_int(v) and v >= low and (high is None or v <= high) else want


def number(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Rule:
    want = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def rule(v: Any) -> str | None:
        if not _is_number(v):
            return want
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
        return None if ok else want
    return rule


def positive_number(v: Any) -> str | None:
    return None if _is_number(v) and v > 0 else "a finite number > 0"


def text(v: Any) -> str | None:
    return None if isinstance(v, str) else "a string"


def flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def obj(v: Any) -> str | None:
    return None if isinstance(v, dict) else "an object {...}"


def texts(v: Any) -> str | None:
    return None if isinstance(v, list) and all(isinstance(s, str) for s in v) else "a list of strings"


#: Longest domain name an image-to-image run or export keeps ("edges", "textured"): the runtime's limit too.
MAX_DOMAIN_NAME = 40


def domain_names(v: Any) -> str | None:
    """The two domains of an image-to-image run: printable names of 1..MAX_DOMAIN_NAME characters."""
    ok = isinstance(v, list) and len(v) == 2 and all(
        isinstance(s, str) and 1 <= len(s) <= MAX_DOMAIN_NAME and s.isprintable() for s in v)
    return None if ok else f"two printable names of 1..{MAX_DOMAIN_NAME} characters (source, target)"


def optional(rule: Rule) -> Rule:
    def check(v: Any) -> str | None:
        want = None if v is None else rule(v)
        return None if want is None else f"{want} or null"
    return check


def betas(v: Any) -> str | None:
    ok = isinstance(v, list) and len(v) == 2 and all(_is_number(b) and 0 <= b < 1 for b in v)
    return None if ok else "two numbers in [0, 1) like [0.5, 0.999]"


def sample_shape(v: Any) -> str | None:
    """[C, H, W] images or [D] points, each dimension within what a sample may take."""
    if isinstance(v, list) and len(v) == 3 and all(_is_int(d) for d in v):
        c, h, w = v
        return None if 1 <= c <= 4 and 1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE else \
            f"[C, H, W] with C in 1..4 and H, W in 1..{MAX_SIDE}"
    if isinstance(v, list) and len(v) == 1 and _is_int(v[0]):
        return None if 1 <= v[0] <= MAX_POINT_DIM else f"[D] with D in 1..{MAX_POINT_DIM}"
    return "a list [C, H, W] (images) or [D] (points) of positive integers"


def points(v: Any) -> str | None:
    """Mixture centres: a list of [x, y, ...] rows of finite numbers, all of one length."""
    ok = (isinstance(v, list) and len(v) <= 1_000_000 and all(isinstance(r, list) for r in v)
          and len({len(r) for r in v}) <= 1 and all(_is_number(x) for r in v for x in r))
    return None if ok else "a list of [x, y] points"


def class_names_problem(v: Any, num_classes: int | None = None) -> str | None:
    """What is wrong with a list of class names, or None: each a string of 1..MAX_CLASS_NAME
    characters without control characters (they are printed on one line and drawn in a grid),
    no name twice (``--labels NAME`` must find one class), no more than MAX_CLASSES of them,
    and ``num_classes`` of them when that is given."""
    if not isinstance(v, list) or len(v) > MAX_CLASSES:
        return f"a list of at most {MAX_CLASSES:,} class names"
    if num_classes is not None and len(v) != num_classes:
        return f"a list of {num_classes:,} class names (one per class), not {len(v):,}"
    seen: set[str] = set()
    for name in v:
        if isinstance(name, str) and any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):
            return f"class names without control characters, not {_shown(name)}"
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_CLASS_NAME or name != name.strip():
            return f"class names of 1..{MAX_CLASS_NAME} characters without spaces around them, not {_shown(name)}"
        if name in seen:
            return f"distinct class names ({_shown(name)} is there twice)"
        seen.add(name)
    if len(json.dumps(v)) > MAX_CLASS_NAMES_BYTES:
        return f"class names of at most {MAX_CLASS_NAMES_BYTES // 1024**2} MB in all (as JSON)"
    return None


def class_names(v: Any) -> str | None:
    return class_names_problem(v)


def check_object(value: Any, rules: dict[str, tuple[Rule, bool]], where: str, fix: str, prefix: str = "") -> None:
    """Every key of ``rules`` (rule, required) checked in order; one line for the first wrong one."""
    if not isinstance(value, dict):
        kind = {list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(type(value), "a number")
        name = f"'{prefix.rstrip('.')}'" if prefix else "the file"
        raise GanzooError(f"'{where}': {name} must be a JSON object {{...}}, got {kind}; {fix}")
    for key, (rule, required) in rules.items():
        if key not in value:
            if required:
                raise GanzooError(f"'{where}': the key '{prefix}{key}' is missing; {fix}")
            continue
        want = rule(value[key])
        if want is not None:
            raise GanzooError(f"'{where}': '{prefix}{key}' must be {want}, got {_shown(value[key])}; {fix}")


# -- config.json ---------------------------------------------------------------------------------
_REQ, _OPT = True, False
#: Most checkpoints ``--keep`` keeps (each a full copy of G, D and the optimizers).
KEEP_MAX = 1000
#: Most generated images ``--pool`` keeps (CycleGAN's is 50); the pool is saved with every checkpoint.
POOL_MAX = 10_000
RUN_KEYS: dict[str, tuple[Rule, bool]] = {
    "model": (text, _REQ), "dataset": (text, _REQ), "loss": (text, _REQ),
    "steps": (integer(1, STEPS_MAX), _REQ), "batch_size": (integer(1, BATCH_MAX), _REQ),
    "lr_g": (positive_number, _REQ), "lr_d": (positive_number, _REQ), "betas": (betas, _REQ),
    "n_critic": (integer(1, N_CRITIC_MAX), _REQ), "latent_dim": (integer(1, LATENT_MAX), _REQ),
    "seed": (integer(0, SEED_MAX), _OPT), "device": (text, _OPT), "threads": (integer(0, 4096), _OPT),
    "out": (text, _OPT),
    "log_every": (integer(1), _OPT), "sample_every": (integer(1), _OPT), "ckpt_every": (integer(1), _OPT),
    "amp": (flag, _OPT), "compile": (flag, _OPT), "ema": (flag, _OPT),
    "ema_decay": (number(0, 1, low_open=True, high_open=True), _OPT), "lr_decay": (number(0, 1), _OPT),
    "pool": (integer(0, POOL_MAX), _OPT),
    "reg": (texts, _OPT), "terms": (texts, _OPT), "discriminator": (optional(text), _OPT),
    "options": (obj, _OPT), "data_dir": (optional(text), _OPT), "download": (flag, _OPT),
    "image_size": (optional(integer(4, IMAGE_SIZE_MAX)), _OPT), "augment": (optional(text), _OPT),
    "stream": (optional(flag), _OPT), "data_budget_gb": (optional(positive_number), _OPT),
    "workers": (integer(0, 4096), _OPT), "tensorboard": (flag, _OPT),
    "keep": (integer(1, KEEP_MAX), _OPT), "eval_every": (integer(0, STEPS_MAX), _OPT),
    "eval_n": (integer(2, EVAL_N_MAX), _OPT),
    "data": (obj, _REQ), "runtime": (obj, _OPT), "versions": (obj, _OPT), "model_plugin": (obj, _OPT),
}
DATA_KEYS: dict[str, tuple[Rule, bool]] = {
    "shape": (sample_shape, _REQ), "model_classes": (integer(0, MAX_CLASSES), _REQ), "kind": (text, _REQ),
    "num_classes": (integer(0, MAX_CLASSES), _OPT), "size": (integer(0), _OPT),
    "modes": (optional(points), _OPT),
    "sigma": (optional(lambda v: None if _is_number(v) else "a finite number"), _OPT),
    "class_names": (optional(class_names), _OPT),  # runs from before names were kept have none
    "source_shape": (optional(sample_shape), _OPT),  # image-to-image runs: the generator's input
    "domains": (optional(domain_names), _OPT),
    "held_out": (integer(0), _OPT),
}
RUNTIME_KEYS: dict[str, tuple[Rule, bool]] = {"threads": (integer(1, 4096), _OPT)}
RUN_FIX = "restore the file from a copy, or start a new run"


def check_run_config(meta: Any, where: str) -> dict[str, Any]:
    """``meta`` (a parsed config.json) if every key the commands read has its type and a
    sane range; one line naming the key otherwise."""
    check_object(meta, RUN_KEYS, where, RUN_FIX)
    check_object(meta["data"], DATA_KEYS, where, RUN_FIX, prefix="data.")
    names, classes = meta["data"].get("class_names"), meta["data"].get("num_classes")
    if names is not None and classes is not None and len(names) != classes:
        raise GanzooError(f"'{where}': 'data.class_names' lists {len(names):,} names for {classes:,} classes; "
                          f"{RUN_FIX}")
    if "runtime" in meta:
        check_object(meta["runtime"], RUNTIME_KEYS, where, RUN_FIX, prefix="runtime.")
    return dict(meta)


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """A run folder's config.json, size-capped and checked: every command that loads a run
    (train --resume, sample, export, eval, bench) reads it through here."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not run_dir.is_dir():
        raise GanzooError(f"run directory '{run_dir}' does not exist")
    if not path.is_file():
        raise GanzooError(f"'{run_dir}' is not a ganzoo run directory (no config.json)")
    return check_run_config(read_json(path, RUN_FIX), str(path))


# -- dataset.json --------------------------------------------------------------------------------
LABELS_FIX = "fix or remove it"
LABELS_FORM = '{"labels": [[file, label], ...]} or {"labels": null}'


def check_labels(value: Any, where: str) -> dict[str, int] | None:
    """``{file: label}`` from a parsed dataset.json, or None for ``"labels": null``; labels
    are integers in 0..MAX_CLASSES-1 (a label of 10^12 would size an embedding by it)."""
    if not isinstance(value, dict) or "labels" not in value:
        raise GanzooError(f"'{where}' is not {LABELS_FORM}; {LABELS_FIX}")
    pairs = value["labels"]
    if pairs is None:
        return None
    if not isinstance(pairs, list):
        raise GanzooError(f"'{where}': 'labels' is not {LABELS_FORM}, got {_shown(pairs)}; {LABELS_FIX}")
    table: dict[str, int] = {}
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) and _is_int(pair[1])):
            raise GanzooError(f"'{where}': labels[{i}] must be [file, integer label], got {_shown(pair)}; "
                              f"{LABELS_FIX}")
        if pair[1] < 0:
            raise GanzooError(f"'{where}' has negative labels (labels[{i}] = {pair[1]}); labels are 0, 1, 2, ...")
        if pair[1] >= MAX_CLASSES:
            raise GanzooError(f"'{where}': labels[{i}] = {_shown(pair[1])} is over the limit of {MAX_CLASSES:,} "
                              f"classes; labels are 0, 1, 2, ... up to {MAX_CLASSES - 1:,}")
        table[pair[0]] = pair[1]
    return table
