"""What a batch of samples is drawn from, with numpy alone: latents from a seed (plain or
truncated), class labels, latent codes, and the layout of a picture grid.

``ganzoo sample`` (torch), ``ganzoo generate``, the ONNX runtime and the demo all draw
through these functions, so the same seed, labels, codes and psi give the same inputs
everywhere; and ``--labels``/``--code`` are read here, once, into what the generator
takes. Torch-free: the base install imports it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ganzoo import limits
from ganzoo.errors import GanzooError


# -- seeds and latents ---------------------------------------------------------------------------
def check_seed(seed: Any) -> None:
    """A seed is None (fresh draws) or a non-negative integer: numpy would take others and mean something else."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise GanzooError(f"seed must be a non-negative integer or None, got {seed!r}")


def count(n: Any) -> int:
    """A number of samples, checked before any array is made."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GanzooError(f"n must be a positive integer, got {n!r}")
    return int(n)


def latents(n: int, latent_dim: int, seed: int | None = None) -> np.ndarray:
    """Standard-normal latents ``[n, latent_dim]`` float32; a seed gives the same ones everywhere."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim), dtype=np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between latents row by row: Gaussian latents live near a
    sphere, and a straight line between two of them passes through unlikely, shrunken z."""
    dot = np.sum(a * b, axis=1, keepdims=True) / (np.linalg.norm(a, axis=1, keepdims=True)
                                                   * np.linalg.norm(b, axis=1, keepdims=True) + 1e-12)
    omega = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(omega)
    safe = np.where(sin < 1e-6, 1.0, sin)
    out = np.where(sin < 1e-6, (1 - t) * a + t * b,
                   (np.sin((1 - t) * omega) / safe) * a + (np.sin(t * omega) / safe) * b)
    return out.astype(np.float32)


# -- truncation ----------------------------------------------------------------------------------
#: Where the truncated normal is cut: BigGAN's published sampler, truncnorm(-2, 2).
TRUNCATION_BOUND = 2.0
#: Mixed into the seed of the stream that redraws latents outside the bound, so that the
#: entries inside it stay those of :func:`latents` (psi only shrinks them).
_TRUNCATION_STREAM = 0x7472756E  # "trun"


def check_truncation(psi: Any, flag: str = "truncation") -> float:
    """psi as a float in ``[0, 1]`` (None: 1.0, no truncation), or a one-line :class:`GanzooError`
    naming ``flag``. Text is accepted so that the CLI and the demo check with the same words."""
    if psi is None:
        return 1.0
    value = float("nan")
    if isinstance(psi, str):
        try:
            value = float(psi.strip())
        except ValueError:
            pass
    elif isinstance(psi, (int, float, np.integer, np.floating)) and not isinstance(psi, (bool, np.bool_)):
        value = float(psi)
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise GanzooError(f"{flag} must be a number in 0..1 (1: no truncation; lower = more typical, less varied), "
                          f"got {psi!r:.40}")
    return value


def truncated_latents(n: int, latent_dim: int, seed: int | None = None, truncation: Any = None) -> np.ndarray:
    """Latents ``[n, latent_dim]`` float32 from a truncated normal, scaled by psi:
    ``psi * TN(-2, 2)``, each entry a standard normal redrawn until ``|z| <= 2`` (Brock et
    al. 2019, BigGAN). psi = 1 (or None) is :func:`latents` itself, psi = 0 is z = 0.

    The entries :func:`latents` gives for (n, seed) that lie inside the bound are kept, and
    the ones outside are redrawn, in row-major order, from a second stream seeded by the
    seed; so a seed gives the same z everywhere, the first k rows for (n, seed) are those
    for (k, seed), and moving psi only shrinks the same z. ``seed=None`` draws fresh ones."""
    psi = check_truncation(truncation)
    check_seed(seed)
    z = latents(n, latent_dim, seed)
    if psi == 1.0:
        return z
    if psi == 0.0:
        return np.zeros_like(z)
    outside = np.flatnonzero(np.abs(z) > TRUNCATION_BOUND)
    if outside.size:
        rng = np.random.default_rng() if seed is None else np.random.default_rng([_TRUNCATION_STREAM, int(seed)])
        kept = np.empty(0, dtype=np.float32)
        while kept.size < outside.size:  # about 4.6 % of draws fall outside: one more round is rare
            draws = rng.standard_normal(outside.size - kept.size + 16, dtype=np.float32)
            kept = np.concatenate([kept, draws[np.abs(draws) <= TRUNCATION_BOUND]])
        z.reshape(-1)[outside] = kept[:outside.size]
    return z * np.float32(psi)


# -- labels ---------------------------------------------------------------------------------------
#: Class names an error line lists before it says how many more there are.
_NAMES_SHOWN = 12


def class_name(k: int, class_names: Sequence[str] | None) -> str:
    """Class ``k`` as people read it: its name, or its number where the classes have no names."""
    return class_names[k] if class_names is not None and 0 <= k < len(class_names) else str(k)


def describe_classes(num_classes: int, class_names: Sequence[str] | None = None) -> str:
    """``0..9``, or ``circle, square, star (0..2)``: what error lines offer as the valid classes."""
    if not class_names:
        return f"0..{num_classes - 1}"
    shown = ", ".join(class_names[:_NAMES_SHOWN])
    more = f", ... ({len(class_names):,} in all)" if len(class_names) > _NAMES_SHOWN else ""
    return f"{shown}{more} (or their numbers 0..{num_classes - 1})"


def find_class(text: Any, num_classes: int, class_names: Sequence[str] | None = None, flag: str = "--labels") -> int:
    """One class given as a name or a number: a class's name first (exactly, else the one
    name that matches ignoring case), then a number in ``0..num_classes-1``. A name wins
    over a number, so that sub-folders named ``1``, ``10``, ``2`` (sorted as text) mean the
    folder a user sees. One line listing the classes otherwise."""
    if isinstance(text, (int, np.integer)) and not isinstance(text, (bool, np.bool_)):
        number = int(text)
        if 0 <= number < num_classes:
            return number
        raise GanzooError(f"{flag} {number} is out of range: the classes are "
                          f"{describe_classes(num_classes, class_names)}")
    word = str(text).strip()
    if class_names:
        if word in class_names:
            return list(class_names).index(word)
        folded = [i for i, name in enumerate(class_names) if name.casefold() == word.casefold()]
        if len(folded) == 1:
            return folded[0]
    try:
        number = int(word)
    except ValueError:
        number = -1
    if 0 <= number < num_classes and word.lstrip("+-").isdigit():
        return number
    classes = describe_classes(num_classes, class_names)
    if word.lstrip("+-").isdigit():
        raise GanzooError(f"{flag} {word[:30]} is out of range: the classes are {classes}")
    if class_names:
        raise GanzooError(f"{flag} {word[:60]!r}: no class has that name; the classes are {classes}")
    either = "'all' or " if flag == "--labels" else ""
    raise GanzooError(f"{flag} must be {either}integers like 0,1,2, got {word[:60]!r}: the classes have no names "
                      f"here, only numbers {classes}")


def every_class(num_classes: int, n: int) -> list[int]:
    """``--labels all`` (and the demo's ``label=all``): a row per class, class-major,
    ``n // num_classes`` of each and at least one, so the grid has one row per class."""
    per = max(1, n // num_classes)
    return [c for c in range(num_classes) for _ in range(per)]


def default_labels(num_classes: int, n: int) -> np.ndarray:
    """Every class, class-major (equal shares, the first classes one more when n is not a multiple)."""
    return np.sort(np.arange(n) % num_classes).astype(np.int64)


def check_labels(labels: Any, n: int, num_classes: int, model: str,
                 class_names: Sequence[str] | None = None) -> np.ndarray | None:
    """Labels as int64 ``[n]`` (None for an unconditional model): None gives
    :func:`default_labels`, one label is repeated; a label may be a class name (a string)
    where the classes have names. Checked before onnxruntime sees them: out-of-range labels
    would raise inside Gather (embeddings) or silently give zeros (one-hot)."""
    if not num_classes:
        if labels is not None:
            raise GanzooError(f"'{model}' is unconditional: drop the labels")
        return None
    if labels is None:
        return default_labels(num_classes, n)
    if isinstance(labels, range):
        labels = list(labels)
    if isinstance(labels, str):  # one class by name, for every sample
        labels = find_class(labels, num_classes, class_names, flag="label")
    elif isinstance(labels, (list, tuple)) and any(isinstance(v, str) for v in labels):
        found: dict[str, int] = {}  # each name looked up once, however many samples ask for it
        for v in labels:
            if isinstance(v, str) and v not in found:
                found[v] = find_class(v, num_classes, class_names, flag="label")
        labels = [found[v] if isinstance(v, str) else v for v in labels]
    array = np.asarray(labels)
    if array.dtype == bool or array.dtype.kind not in "iu":
        if array.dtype.kind == "f" and array.size and np.all(np.mod(array, 1) == 0):
            array = array.astype(np.int64)
        else:
            raise GanzooError(f"labels must be integers in 0..{num_classes - 1} or class names, got {labels!r:.60}")
    if array.ndim == 0:
        array = np.full(n, int(array), dtype=np.int64)
    if array.ndim != 1 or len(array) != n:
        raise GanzooError(f"got {array.size} labels for {n} samples: give one label or one per sample")
    bad = sorted({int(v) for v in array if not 0 <= v < num_classes})
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
        raise GanzooError(f"labels {shown} out of range: '{model}' has classes "
                          f"{describe_classes(num_classes, class_names)}")
    return array.astype(np.int64)


def parse_labels(text: str | None, num_classes: int, n: int,
                 class_names: Sequence[str] | None = None) -> list[int] | None:
    """``--labels``: ``all`` (a conditional model's default) → :func:`every_class`;
    ``0,1,2`` or ``cat,dog`` (names where the classes have them, numbers always) → those
    labels, repeated to n. A whole text that is one class's name is that class, so a name
    with a comma in it can be given alone."""
    if text is None:
        if num_classes:
            text = "all"
        else:
            return None
    if not num_classes:
        raise GanzooError("this generator is unconditional: drop --labels")
    if text.strip() == "all":
        return every_class(num_classes, n)
    if class_names and text.strip() in class_names:
        words = [text.strip()]
    else:
        words = [v for v in text.split(",") if v.strip()]
    if not words:
        raise GanzooError(f"--labels must be 'all', class names or numbers like 0,1,2; got '{text}'; the classes are "
                          f"{describe_classes(num_classes, class_names)}")
    labels = [find_class(v, num_classes, class_names) for v in words]
    return [labels[i % len(labels)] for i in range(n)]


def row_names(labels: Sequence[int] | None, nrow: int | None, class_names: Sequence[str] | None = None
              ) -> list[str] | None:
    """The class of each grid row (its name, else its number) when every row of ``nrow``
    images holds one class, as ``--labels all`` lays them out; None otherwise."""
    if not labels or not nrow:
        return None
    rows = [list(labels[i:i + nrow]) for i in range(0, len(labels), nrow)]
    if any(len(set(row)) != 1 for row in rows):
        return None
    return [class_name(int(row[0]), class_names) for row in rows]


def count_note(asked: int, n: int, nrow: int | None, num_classes: int) -> str:
    """Why a grid holds n samples where -n asked for another number, as a clause for the
    line that says what was written ('' when they agree): whole rows, one per class
    (``--labels all``) or per swept code value."""
    if n == asked or not nrow:
        return ""
    rows = n // nrow
    what, whats = ("class", "classes") if num_classes and rows == num_classes else ("swept value", "swept values")
    if n > asked:
        return f"; {n}, not {asked}: a row for each of the {rows} {whats} needs at least {rows}"
    return (f"; {n}, not {asked}: {nrow} in each of the {rows} rows (one per {what}); "
            f"-n {rows * (nrow + 1)} gives {nrow + 1} a row")


# -- latent codes -------------------------------------------------------------------------------
#: Mixed into every code's seed, so a code's stream never coincides with the latents' one
#: (``default_rng(seed)``), which must stay what it was before codes existed.
_CODE_STREAM = 0x636F6465  # "code"


def _code_dict(code: Any) -> dict[str, Any]:
    """A code as the plain dict of ``ganzoo.codes``; ``ganzoo.api.Code`` objects are accepted
    through their ``as_dict`` so that the torch side can pass ``G.codes`` unchanged."""
    return dict(code.as_dict()) if hasattr(code, "as_dict") else dict(code)


def _specs(codes: Iterable[Any] | None) -> list[dict[str, Any]]:
    return [_code_dict(c) for c in (codes or ())]


def describe_codes(codes: Iterable[Any] | None) -> str:
    """``c1 (categorical 0..9), c2 (continuous -1..1)``: what error messages list as the valid codes."""
    parts = []
    for code in _specs(codes):
        if code["kind"] == "categorical":
            parts.append(f"{code['name']} (categorical 0..{int(code['size']) - 1})")
        else:
            parts.append(f"{code['name']} (continuous {float(code['low']):g}..{float(code['high']):g})")
    return ", ".join(parts)


def sample_codes(codes: Iterable[Any] | None, n: int, seed: int | None = None) -> dict[str, np.ndarray]:
    """Every code drawn from its prior for ``n`` samples: ``{name: [n]}``, int64 for
    categorical codes (uniform over ``0..size-1``), float32 for continuous ones (uniform
    on ``[low, high]``).

    ``codes`` are ``ganzoo.codes`` dicts (``Generator.codes``) or ``ganzoo.api.Code``
    objects. Each code has its own numpy stream, seeded by (seed, its name) and never by
    the latents' seed alone, so that: :func:`latents` for (n, seed) is exactly what it is
    for a generator without codes; the same (n, seed) give the same codes in ``ganzoo
    sample`` (torch), ``ganzoo generate`` (onnxruntime) and ``ganzoo eval``; fixing one
    code does not change how the others are drawn; and the first k values for (n, seed)
    are the values for (k, seed). ``seed=None`` draws fresh codes."""
    specs = _specs(codes)
    if not specs:
        return {}
    check_seed(seed)
    drawn: dict[str, np.ndarray] = {}
    for code in specs:
        name = code["name"]
        rng = (np.random.default_rng() if seed is None
               else np.random.default_rng([_CODE_STREAM, int(seed), *name.encode()]))
        if code["kind"] == "categorical":
            drawn[name] = rng.integers(0, int(code["size"]), n, dtype=np.int64)
        else:
            low, high = float(code["low"]), float(code["high"])
            drawn[name] = (low + (high - low) * rng.random(n)).astype(np.float32)
    return drawn


def _code_values(code: dict[str, Any], value: Any, n: int, codes: list[dict[str, Any]], model: str) -> np.ndarray:
    """One code's values for n samples: a scalar repeated, or n values, validated."""
    name = code["name"]
    valid = f"'{model}' takes {describe_codes(codes)}"
    if isinstance(value, range):
        value = list(value)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if code["kind"] == "categorical":
        size = int(code["size"])
        if array.dtype.kind == "f" and array.size and np.all(np.isfinite(array)) and np.all(np.mod(array, 1) == 0):
            array = array.astype(np.int64)
        if array.dtype == bool or array.dtype.kind not in "iu" or not array.size:
            raise GanzooError(f"code {name} must be integers in 0..{size - 1}, got {value!r:.60}; {valid}")
        bad = sorted({int(v) for v in array.reshape(-1) if not 0 <= v < size})
        if bad:
            shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
            raise GanzooError(f"code {name} value(s) {shown} out of range 0..{size - 1}; {valid}")
        array = array.astype(np.int64)
    else:
        if array.dtype == bool or array.dtype.kind not in "iuf" or not array.size:
            raise GanzooError(f"code {name} must be finite numbers, got {value!r:.60}; {valid}")
        array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            raise GanzooError(f"code {name} must be finite numbers, got {value!r:.60}; {valid}")
        array = array.astype(np.float32)
    if array.ndim == 0:
        return np.full(n, array.item(), dtype=array.dtype)
    if array.ndim != 1 or len(array) != n:
        raise GanzooError(f"got {array.size} values of code {name} for {n} samples: give one value or one per sample")
    return np.ascontiguousarray(array)


def resolve_codes(codes: Iterable[Any] | None, given: Mapping[str, Any] | None, n: int, seed: int | None = None,
                  model: str = "this generator") -> dict[str, np.ndarray]:
    """Every code's values for n samples: those in ``given`` (a scalar for all samples, or
    n values), the others drawn by :func:`sample_codes` with ``seed``.

    One-line :class:`GanzooError` for an unknown name, a categorical value that is not an
    integer in range and a continuous value that is not finite. Continuous values outside
    the prior's ``[low, high]`` pass on purpose: the generator never saw them in training,
    and what it makes of them (extrapolation) is a legitimate thing to look at."""
    specs = _specs(codes)
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise GanzooError(f"codes must be a dict {{name: value}}, got {type(given).__name__}; "
                          f"'{model}' takes {describe_codes(specs) or 'no codes'}")
    if given and not specs:
        raise GanzooError(f"'{model}' takes no latent codes: drop the codes ({', '.join(map(str, given))})")
    names = [c["name"] for c in specs]
    unknown = [str(k) for k in given if k not in names]
    if unknown:
        raise GanzooError(f"'{model}' has no code {', '.join(unknown)}; its codes are {describe_codes(specs)}")
    drawn = sample_codes(specs, n, seed)
    for code in specs:
        if code["name"] in given:
            drawn[code["name"]] = _code_values(code, given[code["name"]], n, specs, model)
    return drawn


def parse_codes(values: tuple[str, ...], codes: list[dict[str, Any]], model: str
                ) -> tuple[dict[str, int | float], list[tuple[str, list[int]]], tuple[str, float, float] | None]:
    """``--code NAME=VALUE`` options → (fixed values, categorical ``all`` sweeps for the
    rows, the continuous ``LOW:HIGH`` sweep for the columns or None).

    Every mistake is named here with the model's codes, before anything is sampled, so
    the user sees what the model takes rather than an error from deep in a forward."""
    if not values:
        return {}, [], None
    if not codes:
        raise GanzooError(f"'{model}' takes no latent codes: drop --code")
    valid = f"'{model}' takes {describe_codes(codes)}"
    by_name = {c["name"]: c for c in codes}
    fixed: dict[str, int | float] = {}
    rows: list[tuple[str, list[int]]] = []
    column: tuple[str, float, float] | None = None
    seen: set[str] = set()
    for text in values:
        name, sep, value = (part.strip() for part in text.partition("="))
        if not sep or not name or not value:
            raise GanzooError(f"--code wants NAME=VALUE such as c1=3, c1=all or c2=-1:1, got '{text}'; {valid}")
        code = by_name.get(name)
        if code is None:
            raise GanzooError(f"--code {text}: '{model}' has no code '{name}'; its codes are {describe_codes(codes)}")
        if name in seen:
            raise GanzooError(f"--code {name} is given twice; give each code once ({valid})")
        seen.add(name)
        if code["kind"] == "categorical":
            size = int(code["size"])
            if value == "all":
                rows.append((name, list(range(size))))
                continue
            try:
                number = int(value)
            except ValueError:
                number = -1
            if not 0 <= number < size:
                raise GanzooError(f"--code {text}: {name} is categorical: give an integer in 0..{size - 1} "
                                  f"or {name}=all; {valid}")
            fixed[name] = number
            continue
        bounds = _continuous(text, name, value, valid)
        if len(bounds) == 1:
            fixed[name] = bounds[0]
        elif column is not None:
            raise GanzooError(f"--code {column[0]}=...:... and --code {text}: one LOW:HIGH sweep fills the "
                              f"columns; fix {name} to one value ({valid})")
        else:
            column = (name, bounds[0], bounds[1])
    return fixed, rows, column


def _continuous(text: str, name: str, value: str, valid: str) -> list[float]:
    """A continuous code's ``VALUE`` or ``LOW:HIGH``: finite and within limits.CODE_VALUE_MAX."""
    low_text, colon, high_text = value.partition(":")
    try:
        bounds = [float(low_text), float(high_text)] if colon else [float(value)]
    except ValueError:
        bounds = [math.nan]
    if not all(math.isfinite(b) for b in bounds):
        raise GanzooError(f"--code {text}: {name} is continuous: give a finite number like {name}=0.5 "
                          f"or a sweep LOW:HIGH like {name}=-1:1; {valid}")
    for bound in bounds:
        limits.check_code_value(text, bound)
    return bounds


# -- grid layout ---------------------------------------------------------------------------------
def layout(labels: str | None, code_options: tuple[str, ...], num_classes: int, codes: list[dict[str, Any]],
           n: int, model: str, most: int = limits.SCATTER_MAX, class_names: Sequence[str] | None = None
           ) -> tuple[int, list[int] | None, dict[str, Any], int | None]:
    """(n, labels, codes, images per grid row) for ``--labels`` and ``--code`` together.

    Without a code sweep this is ``--labels`` as it always was. With one, the grid has a
    row per combination of the swept values (``--labels all``, for conditional models its
    default, and each ``--code NAME=all``, the first one slowest) and n // rows columns
    (a square-ish grid when only a ``LOW:HIGH`` sweep is given), along which the
    ``LOW:HIGH`` code runs from LOW to HIGH; n becomes rows x columns, as with
    ``--labels all``. Codes not fixed or swept are left to the prior. The rows are counted
    before any list is built: a sweep over more than ``most`` samples is one line.
    ``class_names`` lets ``--labels`` name classes (:func:`parse_labels`)."""
    fixed, row_sweeps, column = parse_codes(code_options, codes, model)
    rows_wanted = math.prod([len(values) for _, values in row_sweeps])
    if num_classes and labels in (None, "all"):
        rows_wanted *= num_classes
    if rows_wanted > most:
        raise GanzooError(f"the rows of --labels all and --code NAME=all come to {rows_wanted:,} samples, more than "
                          f"the {most:,} allowed here; sweep fewer codes or fix some (--labels 0,1 or --code NAME=3)")
    label_list = parse_labels(labels, num_classes, n, class_names)
    if not row_sweeps and column is None:
        n = len(label_list) if label_list else n
        return n, label_list, dict(fixed), (label_list.count(label_list[0]) if label_list else None)
    axes: list[tuple[str | None, list[int]]] = []
    if num_classes and labels in (None, "all"):
        axes.append((None, list(range(num_classes))))  # None: the labels
    axes += row_sweeps
    rows = math.prod(len(values) for _, values in axes)
    cols = max(1, n // rows) if axes else max(1, math.ceil(math.sqrt(n)))
    rows = rows if axes else max(1, n // cols)
    n = rows * cols
    swept: dict[str | None, list[Any]] = {name: [] for name, _ in axes}
    for i in range(n):
        r = i // cols
        for name, values in reversed(axes):  # the last axis changes fastest
            r, k = divmod(r, len(values))
            swept[name].append(values[k])
    result: dict[str, Any] = dict(fixed)
    result.update({name: values for name, values in swept.items() if name is not None})
    if column is not None:
        name, low, high = column
        step = (high - low) / (cols - 1) if cols > 1 else 0.0
        result[name] = [low + step * (i % cols) for i in range(n)]
    if None in swept:
        label_list = swept[None]
    elif label_list:
        label_list = parse_labels(labels, num_classes, n, class_names)  # an explicit list, repeated to the new n
    return n, label_list, result, cols
