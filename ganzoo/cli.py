"""The ``ganzoo`` command line. Thin: parse options, call the library, print.

Nothing here imports torch at module level: ``ganzoo --help`` and ``ganzoo list``
stay fast however many plugins are installed.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, cast

import click

from ganzoo import __version__, limits
from ganzoo.errors import GanzooError, check_writable, io_error
from ganzoo.registry import KINDS, Registry, get_registry

KIND_WORDS = {"models": "model", "losses": "loss", "regularizers": "regularizer", "datasets": "dataset"}


class _UserError(click.ClickException):
    """Printed as one ``Error: ...`` line, exit status 2 like click's usage errors."""

    exit_code = 2


class _Command(click.Command):
    """Every command refuses an empty string for any option or argument, in one line: ``--out ''``
    would otherwise silently mean the default run folder, ``--host ''`` every interface."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        names = {p.name: _flag(p) for p in self.params if p.name}
        limits.check_not_empty(ctx.params, names)
        return rest


def _flag(param: click.Parameter) -> str:
    """How the user spells ``param``: its longest option (``--output`` for ``-o/--output``) or its metavar."""
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return param.human_readable_name.upper()


class GanzooGroup(click.Group):
    command_class = _Command
    group_class = type  # sub-groups (ganzoo plugin) are GanzooGroups with _Commands too

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        _OWN.append(getattr(getattr(command, "callback", None), "__module__", "").startswith("ganzoo."))
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GanzooError as exc:
            raise _UserError(str(exc)) from None
        except BrokenPipeError:  # `ganzoo list | head`: the reader has gone, which is no error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except OSError as exc:  # an I/O failure no command foresaw: still one line naming the path
            raise _UserError(str(io_error(exc))) from None


_OWN: list[bool] = []  # per command resolved in this process: whether ganzoo defines it (not a plugin)
_WARNED: list[Registry] = []  # the registry whose plugin failures were already printed


def _registry() -> Registry:
    """The process-wide registry; its plugin failures are printed once, as one line each."""
    registry = get_registry()
    if not any(r is registry for r in _WARNED):
        for failure in registry.failures:
            click.echo(failure.line(), err=True)
        _WARNED[:] = [registry]
    return registry


#: What the commands that run PyTorch import; the base install (list, plugins, generate, ORT bench) has none.
TRAIN_EXTRA = ("torch", "safetensors", "onnx", "matplotlib", "sklearn")


def _need_train(command: str) -> None:
    """Commands that run PyTorch say how to get it, in one line, before anything else."""
    import importlib.util

    missing = [m for m in TRAIN_EXTRA if importlib.util.find_spec(m) is None]
    if missing:
        raise GanzooError(f"ganzoo {command} needs PyTorch and the training packages ({', '.join(missing)} not "
                          "installed): pip install 'ganzoo-onnx[train]' (README: the smaller CPU-only torch build)")


@click.group(cls=GanzooGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="ganzoo")
def cli() -> None:
    """ganzoo: a plugin-based GAN model zoo with verified ONNX export.

    \b
    Quick start:
      ganzoo list                          what is installed (models, losses, data sets)
      ganzoo info vanilla                  one model: paper, defaults, options
      ganzoo train vanilla                 the original GAN on MNIST (offline, 3-5 min on a CPU)
      ganzoo sample RUN_DIR -o g.png       an image grid from a trained run
      ganzoo export RUN_DIR --onnx         a verified ONNX file in exports/
      ganzoo generate FILE.onnx -o g.png   sample with onnxruntime alone
      ganzoo eval RUN_DIR                  offline quality figures
      ganzoo demo FILE.onnx                a local web page to explore a generator

    Every command has --help. Plugins: ganzoo plugins; docs/plugins.md.
    """


# -- list / plugins -------------------------------------------------------------------------
def _row(kind: str, spec: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": kind, "name": spec.name, "id": spec.qualified_name, "summary": spec.summary,
                           "plugin": spec.plugin, "version": spec.plugin_version}
    if kind == "model":
        defaults = {kind: _defaults_dict(spec.defaults_for(kind)) for kind in ("images", "points")}
        row.update(paper=spec.paper, conditional=spec.conditional, loss=spec.loss, dataset=spec.dataset,
                   data_kinds=list(spec.data_kinds), options=spec.options, defaults=defaults)
    elif kind == "dataset":
        row.update(source=spec.source, shape=list(spec.shape) if spec.shape else None,
                   num_classes=spec.num_classes,
                   labelled=bool(spec.num_classes) if spec.num_classes is not None else None, data_kind=spec.kind)
        if spec.pairing:  # a translation set: its pairing and its sources' shape
            row.update(pairing=spec.pairing, source_shape=list(spec.source_shape) if spec.source_shape else None)
    else:
        row.update(paper=spec.paper)
    return row


def _defaults_dict(d: Any) -> dict[str, Any]:
    import dataclasses

    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(d).items()}


def _defaults_lines(spec: Any) -> list[str]:
    """A model's resolved defaults per kind of data, for ``ganzoo train MODEL --help``:
    a heading, then one line per kind."""
    options = f", options: {json.dumps(spec.options)}" if spec.options else ""
    lines = [f"Defaults of '{spec.name}' (each option above overrides one): data set {spec.dataset}, "
             f"loss {spec.loss}{options}."]
    kinds = ("images", "points") if spec.point_defaults is not None else ("images",)
    for kind in kinds:
        d = _defaults_dict(spec.defaults_for(kind))
        label = {"images": "images" if len(kinds) > 1 else "any data", "points": "2-D points"}[kind]
        # no latent for an image-to-image model, and a pool only where the model keeps one
        hidden = {"ema", "reg", "amp", *(("latent_dim",) if spec.task == "translate" else ()),
                  *(() if d["pool"] else ("pool",))}
        flags = [f"--{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, list) else v}"
                 for k, v in d.items() if k not in hidden]
        flags += [f"--reg {r}" for r in d["reg"]] + ["--ema" if d["ema"] else "--no-ema"]
        flags += ["--amp" if d["amp"] else "--no-amp"]
        shown = " ".join(flags)
        lines.append(f"{label}: {shown}")
    return lines


class _TrainCommand(_Command):
    """``ganzoo train MODEL --help`` adds MODEL's resolved defaults below the options."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-"):
            ctx.meta["ganzoo.model"] = args[0]
        return super().parse_args(ctx, args)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        name = ctx.meta.get("ganzoo.model")
        if not name:
            return
        try:
            heading, *kinds = _defaults_lines(get_registry().model(name))
        except GanzooError as exc:
            heading, kinds = str(exc), []
        import textwrap

        width = (formatter.width or 80) - 2
        formatter.write_paragraph()
        formatter.write_text(heading)
        for line in kinds:  # wrapped by hand: click would split --no-ema at its hyphens
            for part in textwrap.wrap(line, width, initial_indent="  ", subsequent_indent="    ",
                                      break_on_hyphens=False):
                formatter.write(part + "\n")


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


#: Width of ``ganzoo list`` tables without -v: summaries are cut to fit.
LIST_WIDTH = 100


def _fit(rows: list[list[str]], headers: list[str], column: int, width: int = LIST_WIDTH) -> list[list[str]]:
    """Cut ``column`` of every row so that the table is at most ``width`` characters wide."""
    others = sum(max(len(headers[i]), *(len(r[i]) for r in rows)) for i in range(len(headers)) if i != column)
    room = max(len(headers[column]), width - others - 2 * (len(headers) - 1))
    return [[c if i != column or len(c) <= room else c[:room - 1].rstrip() + "…" for i, c in enumerate(r)]
            for r in rows]


@cli.command("list")
@click.argument("what", required=False)
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("-v", "--verbose", is_flag=True, help="Every column (papers, sources) and whole summaries.")
def list_cmd(what: str | None, pattern: str | None, as_json: bool, verbose: bool) -> None:
    """List models, losses, regularizers and data sets.

    \b
    WHAT is models, losses, regularizers or datasets (all when left out);
    PATTERN is a shell-style wildcard on the name: vanilla, '*gan', 'c*'.
    One entry in full, with its defaults and options: ganzoo info NAME.
    \b
      ganzoo list
      ganzoo list models '*gan' -v
      ganzoo list datasets --json
    """
    if what is not None and what not in KIND_WORDS and what not in KINDS:
        if pattern is not None:
            raise GanzooError(f"unknown kind '{what}': choose models, losses, regularizers or datasets")
        what, pattern = None, what  # `ganzoo list '*gan'`
    kinds = [KIND_WORDS.get(what, what)] if what else list(KINDS)
    registry = _registry()
    found = {kind: registry.list(kind, pattern or "*") for kind in kinds}
    if as_json:
        click.echo(json.dumps([_row(k, s) for k in kinds for s in found[k]], indent=2))
        return
    if pattern and not any(found.values()):
        raise GanzooError(f"nothing matches '{pattern}'. See: ganzoo list")
    plural = {v: k for k, v in KIND_WORDS.items()}
    shared = {s.name for k in kinds for s in registry.list(k)
              if len([t for t in registry.list(k) if t.name == s.name]) > 1}
    for kind in kinds:
        specs = found[kind]
        if not specs:
            continue
        if len(kinds) > 1:
            click.secho(f"{plural[kind].capitalize()} ({len(specs)})", bold=True)
        rows = [_list_row(kind, s, s.qualified_name if s.name in shared else s.name, verbose) for s in specs]
        headers = _list_headers(kind, verbose)
        click.echo(_table(rows if verbose else _fit(rows, headers, headers.index("summary")), headers))
        click.echo()
    if shared:
        click.echo(f"note: {', '.join(sorted(shared))} registered by more than one plugin; use the plugin:name id.")


def _list_headers(kind: str, verbose: bool) -> list[str]:
    if kind == "model":
        return ["name", "summary", "paper", "conditional", "plugin"] if verbose else ["name", "cond.", "summary",
                                                                                      "plugin"]
    if kind == "dataset":
        return ["name", "summary", "source", "shape", "classes", "plugin"] if verbose else ["name", "shape",
                                                                                            "classes", "summary",
                                                                                            "plugin"]
    return ["name", "summary", "paper", "plugin"] if verbose else ["name", "summary", "plugin"]


def _list_row(kind: str, s: Any, name: str, verbose: bool) -> list[str]:
    origin = f"{s.plugin} {s.plugin_version}"
    if kind == "model":
        cond = "yes" if s.conditional else "no"
        return [name, s.summary, s.paper, cond, origin] if verbose else [name, cond, s.summary, origin]
    if kind == "dataset":
        shape = "x".join(map(str, s.shape)) if s.shape else "varies"
        classes = str(s.num_classes) if s.num_classes else ("-" if s.num_classes == 0 else "varies")
        return [name, s.summary, s.source, shape, classes, origin] if verbose else [name, shape, classes, s.summary,
                                                                                    origin]
    return [name, s.summary, s.paper, origin] if verbose else [name, s.summary, origin]


@cli.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info_cmd(name: str, as_json: bool) -> None:
    """Everything about one model, loss, regularizer or data set: its paper, its defaults
    for each kind of data, its options with their types and defaults.

    \b
      ganzoo info vanilla
      ganzoo info hinge
      ganzoo info ganzoo-pacgan:pacgan --json
    """
    registry = _registry()
    found = [(kind, spec) for kind in KINDS for spec in registry.list(kind)
             if name in (spec.name, spec.qualified_name)]
    if not found:
        for kind in KINDS:  # the registry's own did-you-mean, from the kind it most likely meant
            try:
                getattr(registry, kind)(name)
            except GanzooError as exc:
                if "did you mean" in str(exc):
                    raise
        raise GanzooError(f"nothing is named '{name}'; see: ganzoo list")
    if as_json:
        click.echo(json.dumps([_row(kind, spec) for kind, spec in found], indent=2))
        return
    for kind, spec in found:
        click.secho(f"{spec.name}", bold=True, nl=False)
        click.echo(f"  {kind}, {spec.qualified_name} (plugin {spec.plugin} {spec.plugin_version})")
        click.echo(f"  {spec.summary}")
        for line in _info_lines(kind, spec):
            click.echo(f"  {line}")


def _info_lines(kind: str, spec: Any) -> list[str]:
    from ganzoo.engine.config import describe_option

    lines = [f"paper: {spec.paper}"] if getattr(spec, "paper", None) else []
    if kind == "model":
        terms = f"; its own terms: {', '.join(spec.terms)}" if spec.terms else ""
        task = "image-to-image (a source image in)" if spec.task == "translate" else \
            f"conditional: {'yes' if spec.conditional else 'no'}"
        lines.append(f"{task}; data set {spec.dataset}, loss {spec.loss}{terms}")
        words = {"points": "2-D points", "pairs": "paired images", "domains": "two unpaired domains"}
        takes = " and ".join(words.get(k, k) for k in spec.data_kinds)
        lines.append(f"takes: {takes}{'' if len(spec.data_kinds) > 1 else ' only'}")
        import textwrap

        heading, *kinds = _defaults_lines(spec)
        lines.append("defaults (ganzoo train " + spec.name + " with no options):")
        for text in kinds:  # wrapped by hand: --no-ema must not break at its hyphens
            lines += textwrap.wrap(text, LIST_WIDTH - 2, initial_indent="  ", subsequent_indent="      ",
                                   break_on_hyphens=False)
        if spec.options:
            lines.append("options (--set KEY=VALUE):")
            lines += [f"  {key}: {describe_option(default)}" for key, default in spec.options.items()]
    elif kind == "dataset":
        shape = "x".join(map(str, spec.shape)) if spec.shape else "depends on the argument"
        classes = spec.num_classes if spec.num_classes is not None else "depends on the argument"
        lines += [f"source: {spec.source}", f"shape: {shape}; classes: {classes}"]
        if spec.pairing:
            sizes = (f": sources {'x'.join(map(str, spec.source_shape))} -> targets {shape}"
                     if spec.source_shape and spec.shape else "")
            lines.append(f"image-to-image set, {spec.pairing}{sizes} (for models that take {spec.kind})")
        if spec.takes_argument:
            lines.append(f"use as {spec.name}:ARG")
    elif kind == "regularizer":
        lines.append(f"default weight: {spec.default_weight} (--reg {spec.name}:WEIGHT[@EVERY])")
    return lines


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def plugins_cmd(as_json: bool) -> None:
    """Installed plugins with their versions and hooks, plugins that failed to load, and
    names that two plugins register (use their qualified ids, e.g. ganzoo:hinge).

    Switch plugins off with GANZOO_DISABLE_PLUGINS=a,b (or allow only some with
    GANZOO_PLUGINS=a,b); GANZOO_STRICT_PLUGINS=1 turns a plugin failure into an error.
    """
    registry = get_registry()
    ok: list[dict[str, Any]] = [
        {"name": p.name, "distribution": p.distribution, "version": p.version, "hooks": p.hooks,
         "entries": p.entries, "modules": p.modules}
        for p in registry.plugins
    ]
    failed = [vars(f) for f in registry.failures]
    collisions = registry.collisions()
    if as_json:
        click.echo(json.dumps({"plugins": ok, "failed": failed, "disabled": registry.disabled,
                               "collisions": [vars(c) for c in collisions]}, indent=2))
        return
    for p in ok:
        click.secho(f"{p['name']} {p['version']}", bold=True, nl=False)
        click.echo(f"  ({p['distribution']})" if p["distribution"] != p["name"] else "")
        click.echo(f"  hooks: {', '.join(p['hooks']) or '-'}")
        for kind, names in p["entries"].items():
            click.echo(f"  {kind}: {', '.join(names)}")
    for f in failed:
        click.secho(f"{f['plugin']} FAILED", fg="red", bold=True, nl=False)
        click.echo(f"  ({f['distribution']})\n  {f['phase']}: {f['error']}")
    for name in registry.disabled:
        click.echo(f"{name} disabled (GANZOO_PLUGINS / GANZOO_DISABLE_PLUGINS)")
    if collisions:
        click.secho(f"Name collisions ({len(collisions)}): a shared short name is an error on use", bold=True)
        for c in collisions:
            click.echo(f"  {c.line()}")


# -- bounds on numbers (ganzoo.limits says why each sits where it does) -------------------------
def _bounded(low: int, high: int, why: str = "") -> Any:
    """A click callback: the option's integer in low..high, or one ``Error:`` line naming it.
    Run while the options are parsed, so before any file is opened or folder made."""
    def check(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
        return limits.check_int(_flag(param), value, low, high, why) if value is not None else None

    return check


def _at_most(high: int, why: str) -> Any:
    """A click callback for the upper bound alone, where the command's own check words the lower one."""
    def check(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
        if value is not None and value > high:
            limits.check_int(_flag(param), value, 0, high, why)
        return value

    return check


def _seed(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    return limits.check_seed(value, _flag(param)) if value is not None else None


def _threads(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """The upper bound only: below 1 is the bench's own one-line error."""
    return limits.check_threads(value, _flag(param), auto=False) if value is not None and value > 0 else value


def _max_time(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Infinite, NaN and over an hour here; zero and below are the bench's own error."""
    if value is not None and not value <= limits.BENCH_SECONDS_MAX:
        raise GanzooError(f"--max-time must be at most {limits.BENCH_SECONDS_MAX:,} seconds (per backend and "
                          f"batch size), got {value}")
    return value


# -- train / sample ---------------------------------------------------------------------------
def _betas(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        b1, b2 = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("give two numbers separated by a comma, like 0.5,0.999") from None
    return (b1, b2)


def _settings(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{item}' is not KEY=VALUE (e.g. --set hidden=512)")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


@cli.command("train", cls=_TrainCommand)
@click.argument("model", required=False)
@click.option("--dataset", help="Data set name (see: ganzoo list datasets); folder:PATH for your images.")
@click.option("--loss", help="Adversarial loss NAME[:KEY=VALUE,...], e.g. --loss lsgan:a=-1,b=1,c=0 "
              "(see: ganzoo list losses).")
@click.option("--reg", multiple=True, help="Regularizer NAME[:WEIGHT][,KEY=VALUE...][@EVERY], repeatable: "
              "--reg gp:10, --reg r1:10@16 (lazy: every 16th D update); 'none' drops the model's defaults "
              "(--reg none --reg r1:0.01@16 keeps only R1); naming one of the model's own terms sets its weight, "
              "--reg info:2 (see: ganzoo list regularizers, ganzoo info MODEL).")
@click.option("--augment", help="Augmentation of real and fake images before D: ada (adaptive, Karras et al. 2020; "
              "ada:target=0.6,kimg=100) or diffaug (translation,cutout,color; Zhao et al. 2020), "
              "diffaug:color,translation.")
@click.option("--steps", type=int, help="Total generator steps (on --resume: the new total; at most 10^9).")
@click.option("--batch-size", type=int, help="Samples per step for D and G (per process under torchrun; at most "
              "65,536, and images must fit the memory).")
@click.option("--lr-g", type=float, help="Generator learning rate.")
@click.option("--lr-d", type=float, help="Discriminator learning rate.")
@click.option("--lr-decay", type=float, help="Let both learning rates fall linearly to 0 over this last fraction "
              "of --steps, e.g. 0.5 (sharper samples late in training) [default: the model's, mostly 0].")
@click.option("--pool", type=int, help="Show D, beside the newest generated images, ones from a history of N "
              "(Shrivastava et al. 2017; CycleGAN: 50) [default: the model's, 0 for most].")
@click.option("--betas", callback=_betas, help="Adam betas, e.g. 0.5,0.999.")
@click.option("--n-critic", type=int, help="Discriminator steps per generator step.")
@click.option("--latent-dim", type=int, help="Size of the noise vector z fed to G.")
@click.option("--seed", type=int, default=0, show_default=True, callback=_seed,
              help="Seeds the weights, the noise and the data order: the same seed trains the same run "
              "(0..4294967295).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or mps.")
@click.option("--threads", type=int, help="CPU threads, 0..4 per core [default 0: the cores other jobs leave free, "
              "from the load average; OMP_NUM_THREADS when set]. On a busy machine 1 thread can be 10x faster than 2.")
@click.option("--out", type=click.Path(), help="Run directory to create [default: runs/MODEL-TIMESTAMP].")
@click.option("--resume", type=click.Path(), help="Continue the run in this directory from its checkpoint.")
@click.option("--log-every", type=int, help="Log losses every N steps [default: 50].")
@click.option("--sample-every", type=int, help="Write a sample grid every N steps [default: 500].")
@click.option("--ckpt-every", type=int, help="Checkpoint every N steps [default: 1000].")
@click.option("--amp/--no-amp", default=None, help="bf16 autocast: on CUDA, and on CPUs that compute bf16 natively "
              "(AVX512-BF16 or AMX); float32 elsewhere [default: the model's, off for most].")
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile G and D.")
@click.option("--ema/--no-ema", default=None, help="Keep an exponential moving average of G.")
@click.option("--ema-decay", type=float, help="Weight of the old average per step (warmed up from 0), e.g. 0.999.")
@click.option("--discriminator", help="Swap in another discriminator: timm:ARCH (e.g. timm:resnet10t).")
@click.option("--set", "options", multiple=True, callback=_settings, help="Model option KEY=VALUE, repeatable.")
@click.option("--data-dir", type=click.Path(), help="Where torchvision data sets live [default: ~/.cache/ganzoo/data].")
@click.option("--download", is_flag=True, help="Let torchvision data sets download when missing.")
@click.option("--image-size", type=int, help="Resize images to this size, 4..1024 (folders default to their images' "
              "median side, brought to 4..7 x 2^k and at most 64).")
@click.option("--stream/--no-stream", default=None, help="folder:PATH sets: decode images as batches need them "
              "(bounded memory) instead of once into memory [default: stream when the set, as uint8, is over "
              "--data-budget].")
@click.option("--data-budget", "data_budget_gb", type=float, help="GB of memory a folder:PATH set may take in memory "
              "[default: a quarter of this machine's memory].")
@click.option("--workers", type=int, help="Decode processes for folder:PATH sets [default: one per free core, "
              "at most 8].")
@click.option("--tensorboard", is_flag=True, default=None, help="Also log every term, the sample grids (EMA and raw) "
              "and steps/s to RUN/tensorboard: tensorboard --logdir runs.")
@click.option("--keep", type=int, help="Checkpoints kept: checkpoint/ and the newest N-1 it replaced, as "
              "checkpoint-STEP/ [default: 1].")
@click.option("--eval-every", type=int, help="Score the generator every K steps with the data set's own figure "
              "(ganzoo eval's first: Frechet distance, modes), log it as eval/NAME and keep the best checkpoint as "
              "best/ [default: 0, never].")
@click.option("--eval-n", type=int, help="Samples per --eval-every evaluation [default: 1,000].")
@click.option("-q", "--quiet", is_flag=True, help="No start line, no progress.")
def train_cmd(model: str | None, resume: str | None, quiet: bool, compile_: bool | None, **opts: Any) -> None:
    """Train MODEL with the shared loop; every option defaults to the model's spec.

    \b
      ganzoo train vanilla                      # MNIST 5k, offline, a few minutes on a CPU
      ganzoo train vanilla --dataset ring8 --steps 5000
      ganzoo train vanilla --loss ragan         # relativistic average loss
      ganzoo train dcgan --reg r1:10@16 --augment diffaug
      ganzoo train infogan                      # then: ganzoo sample RUN --code c1=all
      ganzoo train vanilla --resume runs/vanilla-20260101-120000 --steps 6000
      torchrun --nproc_per_node=2 -m ganzoo train vanilla   # data-parallel
    """
    _need_train("train")
    from ganzoo.engine.config import resolve, resume_config

    opts["compile"] = compile_
    # no --reg keeps the model's default regularizers; --reg none drops them, and the other
    # --reg options beside it are then the only ones (--reg none --reg r1:0.01@16)
    regs = list(opts.get("reg") or ())
    opts["reg"] = [r for r in regs if r != "none"] if "none" in regs else (regs or None)
    registry = _registry()
    if resume:
        cfg = resume_config(resume, model, registry, echo=lambda m: click.echo(m, err=True), **opts)
    else:
        if not model:
            raise GanzooError("missing MODEL: e.g. ganzoo train vanilla (see: ganzoo list models)")
        cfg = resolve(model, registry, **opts)
    if not quiet and sys.stderr.isatty():  # at once: loading torch and the data takes seconds
        verb = "resuming" if resume else "training"
        click.echo(f"{verb} {cfg.model} on {cfg.dataset} to step {cfg.steps:,} in {cfg.out} ...", err=True)
    from ganzoo.engine.train import Interrupted, train  # torch: only once the names are known good

    try:
        result = train(cfg, resume=bool(resume), quiet=quiet, registry=registry,
                       echo=lambda m: click.echo(m, err=True))
    except Interrupted as stop:
        if not stop.is_main:
            sys.exit(130)
        click.echo(f"interrupted at step {stop.step}; checkpoint saved in {stop.run_dir / 'checkpoint'}", err=True)
        click.echo(f"resume with: ganzoo train {cfg.model} --resume {stop.run_dir} --steps {cfg.steps}", err=True)
        sys.exit(130)
    if not result.is_main:
        return
    m = result.metrics
    minutes, seconds = divmod(int(result.seconds), 60)
    click.echo(
        f"done: {result.step} steps in {minutes}m{seconds:02d}s (D {m.get('d_loss', float('nan')):.3f}, "
        f"G {m.get('g_loss', float('nan')):.3f}) -> {result.run_dir}\n"
        f"next: ganzoo sample {result.run_dir} -o grid.png  |  ganzoo export {result.run_dir} --onnx"
        + ("  (add --checkpoint best for the best evaluated one)" if (result.run_dir / "best").is_dir() else "")
    )




#: ``--code`` help, shared by ``sample`` and ``generate`` so that both explain it alike.
CODE_HELP = ("Models with latent codes (InfoGAN), repeatable: c1=3 fixes a categorical code, c2=0.5 a "
             "continuous one; c1=all gives one row per value, c2=-1:1 sweeps each row from -1 to 1. "
             "Codes not given are drawn from their priors (same --seed, same codes in sample and generate).")


#: ``--truncation`` help, shared by ``sample`` and ``generate``.
TRUNCATION_HELP = ("Truncation psi, 0 ≤ PSI ≤ 1; lower = more typical, less varied [default: 1, none]. StyleGAN-like "
                   "models pull w toward its average (0: the average image); the others draw z from a normal cut "
                   "at ±2, times PSI (BigGAN). Same --seed and PSI, same z in sample and generate.")


#: ``--checkpoint`` help, shared by ``sample``, ``export`` and ``eval``.
CHECKPOINT_HELP = ("Which checkpoint of the run: latest, best (the best evaluated, kept by train --eval-every) "
                   "or a STEP kept by train --keep [default: latest]. --weights then picks EMA or raw weights in it.")


def _truncation(text: str | None) -> float:
    """``--truncation`` checked before anything loads; 1.0 (none) when not given."""
    from ganzoo.sampling import check_truncation

    return check_truncation(text, "--truncation")


#: ``ganzoo sample``'s default count; an image-to-image run's default and most columns (one held-out source each).
SAMPLES_SHOWN, TRANSLATIONS_SHOWN, TRANSLATIONS_MAX = 64, 8, 32

#: Samples per generator call in ``ganzoo sample``: the activations of one chunk, not of all n, are held.
SAMPLE_CHUNK = 1024


@cli.command("sample")
@click.argument("run_dir", type=click.Path())
@click.option("-n", "--n", "n", type=int,
              callback=_bounded(1, limits.SCATTER_MAX, "a grid Pillow can open again; 2-D points: one scatter plot"),
              help="How many samples (a grid of at most 89 megapixels; 2-D points: at most 1,000,000) [default: 64; "
              "image-to-image runs: 8 held-out sources, at most 32].")
@click.option("--labels", help="Conditional models: 'all' (one row per class, the default), or classes by name "
              "or number: cat,dog or 0,1,2.")
@click.option("--code", "code", multiple=True, metavar="NAME=VALUE", help=CODE_HELP)
@click.option("--seed", type=int, default=0, show_default=True, callback=_seed,
              help="Seed of the latents and codes, 0..4294967295 (numpy; the same samples as ganzoo generate).")
@click.option("--weights", type=click.Choice(["ema", "raw"]), help="[default: ema when the run has it]")
@click.option("--checkpoint", metavar="WHICH", help=CHECKPOINT_HELP)
@click.option("--truncation", metavar="PSI", help=TRUNCATION_HELP)
@click.option("-o", "--output", type=click.Path(), default="samples.png", show_default=True,
              help="Picture to write (.png, .jpg, .webp, .tif); a scatter plot for 2-D points.")
def sample_cmd(run_dir: str, n: int | None, labels: str | None, code: tuple[str, ...], seed: int, weights: str | None,
               checkpoint: str | None, truncation: str | None, output: str) -> None:
    """Write an image grid (a scatter plot for 2-D data) from a trained run; for an
    image-to-image run, rows of held-out sources, their translations and targets.

    \b
      ganzoo sample RUN_DIR -o grid.png
      ganzoo sample RUN_DIR --labels 3 -n 16 --seed 1
      ganzoo sample RUN_DIR --code c1=all --code c2=-1:1 -n 100   (InfoGAN: a row per c1, c2 along it)
      ganzoo sample RUN_DIR --truncation 0.7

    The same --seed, -n, --labels, --code and --truncation give the same samples as
    ganzoo generate on the run's export (same latents, same codes).
    """
    _need_train("sample")
    import numpy as np
    import torch

    from ganzoo.engine.build import load_generator
    from ganzoo.grid import picture_path, save_image_grid, save_scatter

    psi = _truncation(truncation)
    picture_path(output)
    G, meta, used = load_generator(run_dir, weights, checkpoint=checkpoint)
    if meta["data"].get("source_shape"):
        from ganzoo.engine.rundir import sample_translations

        if labels or code or truncation:
            raise GanzooError("--labels, --code and --truncation draw noise -> image samples; an image-to-image "
                              "run translates held-out sources: give -n and --seed only")
        asked = n or TRANSLATIONS_SHOWN
        shown = sample_translations(G, meta, min(asked, TRANSLATIONS_MAX), seed, output)
        click.echo(f"wrote {shown} held-out translations ({used} weights) to {output}"
                   + (f" (-n {asked} asked; at most {TRANSLATIONS_MAX} columns)" if asked > TRANSLATIONS_MAX else ""))
        return
    n = n or SAMPLES_SHOWN
    from ganzoo.api import generate, truncates_w
    from ganzoo.sampling import count_note, latents, layout, resolve_codes, row_names, truncated_latents

    codes = [c.as_dict() for c in (getattr(G, "codes", None) or ())]
    model = str(meta.get("model", type(G).__name__))
    names = meta.get("data", {}).get("class_names")  # runs from before names were kept have none
    names = names if names and len(names) == G.num_classes else None
    asked = n
    n, label_list, given, nrow = layout(labels, code, cast(int, G.num_classes), codes, n, model, class_names=names)
    shape = tuple(getattr(G, "output_shape", None) or meta.get("data", {}).get("shape") or ())
    if shape:  # before the latents exist: the picture must open again and its floats must fit the memory
        limits.check_picture("--n", n, shape, nrow)
    # the same latents as `ganzoo generate`: plain for a generator that truncates w itself, truncated otherwise
    w_psi = psi if truncates_w(G) else None
    z_np = latents(n, cast(int, G.latent_dim), seed) if w_psi is not None else \
        truncated_latents(n, cast(int, G.latent_dim), seed, psi)
    z = torch.from_numpy(z_np)
    y = torch.tensor(label_list) if label_list else None
    # codes are drawn by the runtime's numpy function: the same codes as `ganzoo generate`
    c = {name: torch.from_numpy(v) for name, v in resolve_codes(codes, given, n, seed, model=model).items()}
    with torch.no_grad():  # in chunks: n = 100,000 points need not hold 100,000 samples' activations at once
        parts = [generate(G, z[i:i + SAMPLE_CHUNK], None if y is None else y[i:i + SAMPLE_CHUNK],
                          {k: v[i:i + SAMPLE_CHUNK] for k, v in c.items()} or None, truncation=w_psi).numpy()
                 for i in range(0, n, SAMPLE_CHUNK)]
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    if not shape:
        limits.check_picture("--n", n, out.shape[1:], nrow)
    if meta["data"]["kind"] == "points":
        modes = np.asarray(meta["data"]["modes"]) if meta["data"].get("modes") else None
        save_scatter(out, output, modes=modes, title=f"{meta['model']} ({used} weights)")
    else:
        save_image_grid(out, output, nrow=nrow, row_names=row_names(label_list, nrow, names))
    click.echo(f"wrote {n} samples ({used} weights) to {output}"
               f"{count_note(asked, n, nrow, cast(int, G.num_classes))}")


# -- eval -------------------------------------------------------------------------------------
@cli.command("eval")
@click.argument("source", type=click.Path())
@click.option("-n", "--n", "n", type=int,
              callback=_bounded(1, limits.EVAL_N_MAX, "every protocol settles long before; the samples are held "
                                "in memory"),
              help="How many samples, at most 10^6 [default: 2,500 for 2-D mixtures, 5,000 for digits, 26,000 for "
              "stacked-mnist; image-to-image models: all held-out pairs or images, -n takes the first N].")
@click.option("--seed", type=int, default=0, show_default=True, callback=_seed,
              help="Seed of the latents (numpy), 0..4294967295.")
@click.option("--weights", type=click.Choice(["ema", "raw"]),
              help="Run directories: [default: ema when the run has it]")
@click.option("--checkpoint", metavar="WHICH", help="Run directories: " + CHECKPOINT_HELP)
@click.option("--data-dir", type=click.Path(), help="Where torchvision data sets live (for mnist).")
@click.option("--download", is_flag=True, help="Let a torchvision data set download when missing; with --metric "
              "fid/kid/is also torch-fidelity's Inception weights (91 MB, SHA-256 checked) into torch's hub cache.")
@click.option("-o", "--output", type=click.Path(), help="JSON file [default: RUN_DIR/eval.json or MODEL.eval.json].")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON instead of a table.")
@click.option("--metric", default="classifier", show_default=True,
              help="classifier (offline protocols above), or fid, kid, is, comma-separated: the standard "
              "InceptionV3 figures through torch-fidelity [default n: 10,000].")
@click.option("--reference", help="--metric fid/kid: the data set to compare with (a name, or folder:PATH) "
              "[default: the one the generator trained on].")
@click.option("--inception-weights", type=click.Path(), help="--metric fid/kid/is: torch-fidelity's InceptionV3 "
              "weights file [default: torch's hub cache, filled by --download].")
@click.option("--labels", help="Conditional models: score only these classes, by name or number (cat,dog or "
              "0,1), against the real images of the same classes [default: all, in equal numbers].")
def eval_cmd(source: str, n: int | None, seed: int, weights: str | None, checkpoint: str | None,
             data_dir: str | None, download: bool, output: str | None, as_json: bool, metric: str,
             reference: str | None, inception_weights: str | None, labels: str | None) -> None:
    """Score a trained generator offline: a run directory or an exported .onnx file.

    \b
    2-D mixtures: modes captured, % high quality, reverse KL (PacGAN protocol).
    Digits: Frechet distance and precision/recall in a shipped classifier's
    features, classes covered, class KL; Stacked MNIST: modes of 1,000 and KL.
    Conditional models add conditional accuracy. Real data is scored alongside.
    Image-to-image models (pix2pix, srgan, cyclegan), on the held-out part of
    their data set: PSNR, SSIM and L1 beside a baseline (bicubic upscaling, or
    the source itself) for pairs; for unpaired domains, per direction, the share
    of digits kept and the Frechet distance to the real target domain.
    With --metric fid,kid,is: the standard InceptionV3 figures (torch-fidelity),
    from local Inception weights, or fetched once with --download.
    \b
      ganzoo eval runs/vanilla-20260101-120000
      ganzoo eval runs/vanilla-20260101-120000 --checkpoint best
      ganzoo eval exports/vanilla.onnx --json
      ganzoo eval runs/dcgan-20260101-120000 --metric fid,kid --download
      ganzoo eval runs/cgan-20260101-120000 --labels 7
    """
    _need_train("eval")
    from ganzoo.metrics.evaluate import check_output, default_output, evaluate, format_report, write_result

    if output:  # an explicit -o is checked before minutes of work; the default sits beside the source
        check_output(output)
    talk = not as_json  # --json: stdout is for scripts, stderr stays quiet too
    echo = (lambda line: click.echo(line, err=True)) if talk else None
    if metric.strip().lower() == "classifier":
        if reference or inception_weights:
            raise GanzooError("--reference and --inception-weights go with --metric fid, kid or is")
        result = evaluate(source, n=n, seed=seed, weights=weights, data_dir=data_dir, download=download,
                          progress=talk, echo=echo, checkpoint=checkpoint, labels=labels)
    else:
        from ganzoo.metrics.standard import parse_metrics, score
        from ganzoo.metrics.translation import is_translation

        if is_translation(source):
            raise GanzooError(f"--metric {metric} scores noise -> image generators; '{source}' is an image-to-image "
                              "model, scored on its held-out pairs by the default --metric classifier: drop --metric")

        result = score(source, parse_metrics(metric), n=n, seed=seed, weights=weights, reference=reference,
                       inception=inception_weights, data_dir=data_dir, download=download, progress=talk, echo=echo,
                       checkpoint=checkpoint, labels=labels)
    path = write_result(result, output or default_output(source))
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(format_report(result))
        click.echo(f"wrote {path}")


# -- export / generate (ONNX) ---------------------------------------------------------------
@cli.command("export")
@click.argument("run_dir", type=click.Path())
@click.option("--onnx", "onnx_", is_flag=True, default=True, help="Export to ONNX (the only format; on by default).")
@click.option("-o", "--output", type=click.Path(), help="File (or folder) to write [default: exports/RUN-NAME.onnx].")
@click.option("--opset", type=int, help="ONNX opset [default: the exporter's, 20].")
@click.option("--weights", type=click.Choice(["ema", "raw"]), help="[default: ema when the run has it]")
@click.option("--checkpoint", metavar="WHICH", help=CHECKPOINT_HELP)
@click.option("--exporter", type=click.Choice(["auto", "dynamo", "torchscript"]), default="auto", show_default=True,
              help="auto: torch.export (dynamo), the TorchScript exporter if that fails.")
@click.option("--no-verify", is_flag=True, help="Skip onnx.checker and the onnxruntime-vs-PyTorch comparison.")
@click.option("--fp16", is_flag=True, help="Half precision inside, float32 in/out: for GPU providers "
              "(verified to 1e-2) [default file: exports/RUN-NAME.fp16.onnx].")
@click.option("--int8", is_flag=True, help="int8 weights for CPUs (onnxruntime's dynamic quantization; pixels move "
              "by up to ~0.3, so measure it with ganzoo eval) [default file: exports/RUN-NAME.int8.onnx].")
@click.option("--direction", help="Image-to-image models with two generators: which one, e.g. a2b (the default) "
              "or b2a for CycleGAN.")
def export_cmd(run_dir: str, onnx_: bool, output: str | None, opset: int | None, weights: str | None,
               checkpoint: str | None, exporter: str, no_verify: bool, fp16: bool, int8: bool,
               direction: str | None) -> None:
    """Export a run's generator to a verified, self-describing ONNX file.

    Verification (on by default) runs onnx.checker, shape inference and onnxruntime
    against PyTorch at batch 1, 7 and 64; a failure writes no file. An image-to-image
    generator (pix2pix, cyclegan, srgan) exports with dynamic batch, height and width
    and is compared at its training size and at larger, non-square ones.

    \b
      ganzoo export runs/vanilla-20260101-120000 --onnx
      ganzoo generate exports/vanilla-20260101-120000.onnx -o grid.png
      ganzoo export runs/vanilla-20260101-120000 --int8    # then: ganzoo eval, ganzoo bench
      ganzoo export runs/cyclegan-20260101-120000 --onnx --direction b2a
    """
    _need_train("export")
    from ganzoo.onnx.export import export_run

    result = export_run(run_dir, output=output, opset=opset, weights=weights, verify=not no_verify, exporter=exporter,
                        echo=lambda line: click.echo(line, err=True), fp16=fp16, checkpoint=checkpoint, int8=int8,
                        direction=direction)
    if result.fallback_reason:
        click.echo(f"note: {result.fallback_reason}; used the TorchScript exporter", err=True)
    click.echo(result.verification_line())
    click.echo(result.summary())
    if result.metadata.get("ganzoo.task") == "translate":
        click.echo(f"next: ganzoo translate {result.path} IMAGE_OR_FOLDER -o OUT")
    else:
        click.echo(f"next: ganzoo generate {result.path} -o grid.png")


@cli.command("generate")
@click.argument("model_file", metavar="MODEL.onnx", type=click.Path())
@click.option("-n", "--n", "n", type=int, default=64, show_default=True,
              callback=_bounded(1, limits.NPY_SAMPLES_MAX, "a picture holds far fewer; --npy files are streamed"),
              help="How many samples (a picture: a grid of at most 89 megapixels; --npy alone: up to 10^7, "
              "written in chunks).")
@click.option("--labels", help="Conditional models: 'all' (one row per class, the default), or classes by name "
              "(from the file's ganzoo.class_names) or number: cat,dog or 0,1,2.")
@click.option("--code", "code", multiple=True, metavar="NAME=VALUE", help=CODE_HELP)
@click.option("--seed", type=int, default=0, show_default=True, callback=_seed,
              help="Seed of the latents and codes, 0..4294967295 (numpy; same everywhere).")
@click.option("--provider", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="onnxruntime provider; auto takes CUDA only where it really loads.")
@click.option("-o", "--output", type=click.Path(),
              help="PNG grid, a scatter plot for 2-D points [default: samples.png].")
@click.option("--npy", type=click.Path(), help="Also/instead save the raw samples [N, ...] as .npy.")
@click.option("--latent-dim", type=int, callback=_bounded(1, limits.LATENT_MAX, "128x StyleGAN's 512"),
              help="Latent size, to run an .onnx without ganzoo metadata.")
@click.option("--interpolate", "frames", type=int, metavar="K",
              callback=_bounded(2, limits.FRAMES_MAX, "40 s at 25 frames a second; every frame is held in memory"),
              help="A latent walk of K frames, 2..1000 (each sample from its --seed latent to its --seed+1 latent and "
              "back): an animated GIF with -o walk.gif, numbered PNGs with -o walk.png.")
@click.option("--truncation", metavar="PSI", help=TRUNCATION_HELP)
def generate_cmd(model_file: str, n: int, labels: str | None, code: tuple[str, ...], seed: int, provider: str,
                 output: str | None, npy: str | None, latent_dim: int | None, frames: int | None,
                 truncation: str | None) -> None:
    """Sample from an exported generator with onnxruntime alone (no torch needed).

    \b
      ganzoo generate exports/dcgan.onnx -o grid.png
      ganzoo generate exports/cgan.onnx --labels 3 --n 16 --seed 1
      ganzoo generate exports/vanilla-ring8.onnx --npy points.npy
      ganzoo generate exports/infogan.onnx --code c1=all --code c2=-1:1 -n 100   (a row per c1, c2 along it)
      ganzoo generate exports/infogan.onnx --code c1=7 --code c3=0.5
      ganzoo generate exports/dcgan.onnx --interpolate 24 -n 16 -o walk.gif
      ganzoo generate exports/dcgan.onnx --truncation 0.7
    """

    from ganzoo.grid import picture_path, save_image_grid, save_scatter
    from ganzoo.onnx import runtime
    from ganzoo.sampling import count_note, layout, row_names

    psi = _truncation(truncation)
    if frames is not None:
        _walk(model_file, frames, n, labels, code, seed, provider, output, npy, latent_dim, psi)
        return
    if output is not None:
        picture_path(output)
    if npy is not None:
        check_writable(npy, "choose another --npy path", suffix=".npy")
    G = runtime.load(model_file, provider=provider, latent_dim=latent_dim)
    if output is None and npy is None:
        output = "samples.png"
    most = limits.NPY_SAMPLES_MAX if output is None else limits.SCATTER_MAX
    asked = n
    n, label_list, given, nrow = layout(labels, code, G.num_classes, G.codes, n, G.model, most, G.class_names)
    out = _draw(G, n, label_list, given, seed, psi, npy, output, nrow)
    written = []
    if npy is not None:
        written.append(npy)
    if out is not None and output is not None:
        if out.ndim == 2:
            save_scatter(out, output, modes=G.modes, title=f"{G.model} (onnxruntime)")
        else:
            save_image_grid(out, output, nrow=nrow, row_names=row_names(label_list, nrow, G.class_names))
        written.append(output)
    click.echo(f"wrote {n} samples ({G.model}, {G.provider}) to {' and '.join(written)}"
               f"{count_note(asked, n, nrow, G.num_classes)}")


#: Samples per onnxruntime call and per write when ``generate`` streams: however large -n is, one
#: chunk of outputs is in memory at a time (a multiple of the runtime's own batch of 256, so the
#: numbers are those of Generator.sample).
STREAM_CHUNK = 4096


def _draw(G: Any, n: int, labels: list[int] | None, given: dict[str, Any], seed: int, psi: float,
          npy: str | None, picture: str | None, nrow: int | None) -> Any:
    """``generate``'s samples, chunk by chunk: each chunk goes straight into the --npy file (written
    aside and renamed, so a failure leaves no half file); only a picture keeps them all, and a
    picture is capped (limits.check_picture) before the second chunk is drawn. The latents, labels
    and codes are drawn whole, as Generator.sample draws them, so the samples are the same for any
    chunk size: n x (latent_dim + codes + 2) x 4 bytes, checked against the memory first."""
    import shutil
    from pathlib import Path

    import numpy as np

    inputs = 2 * n * (G.latent_dim + len(G.codes) + 2) * 4  # 2: a truncated draw holds a second copy
    limits.check_memory(f"the latents, labels and codes of {n:,} samples", inputs, "lower -n")
    z = G.latents(n, seed, psi)
    y = G.check_labels(labels, n)
    c = G.check_codes(given or None, n, seed)
    graph_psi = psi if G.truncates_w else None

    def chunk(start: int) -> Any:
        stop = min(n, start + STREAM_CHUNK)
        return G.run(z[start:stop], None if y is None else y[start:stop],
                     {name: v[start:stop] for name, v in c.items()}, truncation=graph_psi)

    first = chunk(0)
    shape = tuple(first.shape[1:])
    if picture is not None:
        drawable = (len(shape) == 3 and shape[0] in (1, 3, 4)) or shape == (2,)
        if not drawable:
            raise GanzooError(f"samples of shape {list(shape)} cannot be drawn as a picture; save them with "
                              "--npy out.npy")
        limits.check_picture("--n", n, shape, nrow)
    whole = np.empty((n, *shape), np.float32) if picture is not None else None
    store, part_path = None, None
    if npy is not None:
        target = Path(npy)
        need = n * limits.sample_bytes(shape) + 4096
        free = shutil.disk_usage(target.resolve().parent).free
        if need > free:
            raise GanzooError(f"--npy {npy}: {n:,} samples of {list(shape)} take {limits.size_text(need)}, more "
                              f"than the {limits.size_text(free)} free there; lower -n or choose another --npy path")
        part_path = target.with_name(f".{target.name}.part")
        store = np.lib.format.open_memmap(part_path, mode="w+", dtype=np.float32, shape=(n, *shape))
    try:
        for start in range(0, n, STREAM_CHUNK):
            part = first if start == 0 else chunk(start)
            if store is not None:
                store[start:start + len(part)] = part
            if whole is not None:
                whole[start:start + len(part)] = part
        if store is not None and part_path is not None:
            store.flush()
            del store
            part_path.replace(target)
    finally:
        if part_path is not None and part_path.exists():
            part_path.unlink()
    return whole


def _walk(model_file: str, frames: int, n: int, labels: str | None, code: tuple[str, ...], seed: int, provider: str,
          output: str | None, npy: str | None, latent_dim: int | None, psi: float = 1.0) -> None:
    """``generate --interpolate K``: the walk's frames as a GIF or numbered PNGs."""
    from pathlib import Path

    from ganzoo.grid import picture_path, save_animation
    from ganzoo.onnx import runtime
    from ganzoo.sampling import count_note, layout, row_names

    if npy is not None:
        raise GanzooError("--interpolate writes pictures: drop --npy")
    output = output or "walk.gif"
    if Path(output).suffix.lower() != ".gif":
        picture_path(output)
    if frames < 2:
        raise GanzooError(f"--interpolate takes the number of frames, at least 2, got {frames}")
    G = runtime.load(model_file, provider=provider, latent_dim=latent_dim)
    if G.output_shape is None or len(G.output_shape) != 3:
        raise GanzooError(f"--interpolate draws image grids; '{G.model}' makes {G.output_shape} samples: "
                          "use ganzoo generate --npy for points")
    asked = n
    n, label_list, given, nrow = layout(labels, code, G.num_classes, G.codes, n, G.model, class_names=G.class_names)
    limits.check_picture("--n", n, tuple(G.output_shape), nrow, frames=frames)  # every frame is held until written
    written = save_animation(runtime.walk(G, n, frames, label_list, given or None, seed, truncation=psi), output,
                             nrow=nrow, row_names=row_names(label_list, nrow, G.class_names))
    where = written[0] if len(written) == 1 else f"{written[0]} ... {written[-1].name}"
    click.echo(f"wrote a {frames}-frame latent walk of {n} samples ({G.model}, {G.provider}) to {where}"
               f"{count_note(asked, n, nrow, G.num_classes)}")


@cli.command("translate")
@click.argument("model_file", metavar="MODEL.onnx", type=click.Path())
@click.argument("source", metavar="IN", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="A .png file for one image (or an existing folder to put "
              "NAME.png in); a folder (created) for a folder of images, one NAME.png per image.")
@click.option("--provider", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="onnxruntime provider; auto takes CUDA only where it really loads.")
@click.option("--side-by-side", is_flag=True, help="Write source | translation pictures (the source enlarged to "
              "the output's scale) instead of the translation alone.")
@click.option("--tile", type=int, metavar="N", help=f"Models that take any size (srgan): run pictures larger than "
              f"N x N source pixels in N-pixel tiles, {limits.TILE_OVERLAP} px of each cropped at the seams, "
              f"{limits.TILE_MIN}..{limits.TILE_MAX} [default: {limits.TILE_DEFAULT}]; 0: the whole picture at once "
              "(at most 1024 x 1024).")
def translate_cmd(model_file: str, source: str, output: str | None, provider: str, side_by_side: bool,
                  tile: int | None) -> None:
    """Translate an image, or every image of a folder, with an image-to-image export
    (pix2pix, cyclegan, srgan) and onnxruntime alone (no torch).

    IN is an image file (PNG, JPEG, BMP, WebP, GIF, TIFF) or a folder of them; the folder's
    sub-folders are not read. Pictures are brought to the model's channels (grey or RGB;
    transparency on white) and to any size: sides the network cannot take are padded and
    the result cropped back; super-resolution runs large pictures in tiles. Output: PNG.
    In a folder, an unreadable image stops the command, naming it, unless
    GANZOO_SKIP_BAD_IMAGES=1 (then it is skipped and counted).

    \b
      ganzoo translate exports/pix2pix.onnx edges.png -o digit.png
      ganzoo translate exports/srgan.onnx small/ -o large/
      ganzoo translate exports/cyclegan.onnx photo.jpg -o pair.png --side-by-side
    """
    from ganzoo.onnx import translate

    if output is None:
        translate.plan_jobs(source, output)  # one line saying what -o takes (or that IN is missing)
    T = translate.load(model_file, provider=provider)
    jobs, folder, out = translate.plan_jobs(source, output)
    summary = translate.translate_files(T, jobs, tile=tile, side_by_side=side_by_side, folder=folder,
                                        echo=lambda line: click.echo(line, err=True))
    note = summary.folder_note(T, tile) if folder else next(iter(summary.notes), None)
    if note:
        click.echo(f"note: {note}", err=True)
    what = "source | translation pictures" if side_by_side else "translations"
    if not folder:
        click.echo(f"wrote {out} ({T.describe}, {T.provider})")
        return
    skipped = f"; skipped {len(summary.skipped)} image(s) (see the notes above)" if summary.skipped else ""
    click.echo(f"wrote {len(summary.written)} {what} ({T.describe}, {T.provider}) to {out}{skipped}")


@cli.command("demo")
@click.argument("model_file", metavar="MODEL.onnx", type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 shows the demo to your whole network.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on (0: any free one).")
@click.option("--provider", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="onnxruntime provider; auto takes CUDA only where it really loads.")
@click.option("--examples", type=click.Path(), metavar="FOLDER", help="Image-to-image exports: pictures the page "
              f"offers as example sources (the folder's own, at most {limits.DEMO_EXAMPLES_MAX}).")
def demo_cmd(model_file: str, host: str, port: int, provider: str, examples: str | None) -> None:
    """A local web page to explore an exported generator (onnxruntime, no torch): new
    samples, a latent walk, a class and latent codes to fix, truncation (psi), PNG download.
    An image-to-image export (pix2pix, cyclegan, srgan) gets an upload page instead: choose
    or drop a picture (at most 8 MB and 1024 x 1024), see it beside its translation, download it.

    \b
      ganzoo demo exports/examples/cgan-digits.onnx      # then open http://127.0.0.1:8000/
      ganzoo demo exports/infogan.onnx --port 8080
      ganzoo demo exports/pix2pix.onnx --examples edges/
    """
    from ganzoo.demo import make_server

    if not 0 <= port <= 65535:
        raise GanzooError(f"--port must lie in 0..65535, got {port}")
    server = make_server(model_file, host, port, provider, examples=examples)
    bound_host, bound_port = server.server_address[:2]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else str(bound_host)  # an IPv6 address needs brackets
    click.echo(f"ganzoo demo of {model_file} at http://{shown}:{bound_port}/ (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()


# -- bench ---------------------------------------------------------------------------------------
@cli.command("bench")
@click.argument("target", metavar="MODEL.onnx|RUN_DIR", type=click.Path())
@click.option("--batch-sizes", help="Comma-separated batch sizes [default: 1,8,64,256; image-to-image exports: 1,8].")
@click.option("--sizes", help="Image-to-image exports: source sizes to time, each N or HEIGHTxWIDTH, e.g. 32,64x48 "
              "[default: the training size, twice it and four times it].")
@click.option("--providers", default="auto", show_default=True,
              help="onnxruntime providers: auto (all; unusable ones reported as skipped) or from cpu,cuda,tensorrt.")
@click.option("--torch/--no-torch", "with_torch", default=True, show_default=True,
              help="Also time PyTorch eager from the run directory.")
@click.option("--compile", "compile_", is_flag=True, help="Also time torch.compile.")
@click.option("--fp16", is_flag=True, help="Also time an fp16 copy on GPU providers (output limit 1e-2).")
@click.option("--warmup", type=int, default=10, show_default=True,
              callback=_at_most(limits.BENCH_RUNS_MAX, "--max-time bounds the timed runs, not these"),
              help="Untimed runs per backend and batch size (at most 100,000).")
@click.option("--runs", type=int, default=100, show_default=True,
              callback=_at_most(limits.BENCH_RUNS_MAX, "percentiles settle long before"),
              help="Timed runs per backend and batch size (at most; up to 100,000).")
@click.option("--max-time", type=float, default=10.0, show_default=True, callback=_max_time,
              help="Seconds per backend and batch size, at most 3,600; stops early after at least 10 runs.")
@click.option("--threads", type=int, callback=_threads,
              help="CPU threads for every backend, 1..4 per core [default: OMP_NUM_THREADS, else all cores].")
@click.option("--run", "run_dir", type=click.Path(), help="Run directory with the PyTorch weights "
              "[default: the one the file's ganzoo.run metadata names, when found].")
@click.option("--json", "json_path", type=click.Path(), help="Also write the full result (with machine info) as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def bench_cmd(target: str, batch_sizes: str | None, sizes: str | None, providers: str, with_torch: bool,
              compile_: bool, fp16: bool, warmup: int, runs: int, max_time: float, threads: int | None,
              run_dir: str | None, json_path: str | None, quiet: bool) -> None:
    """Time an exported generator: onnxruntime per provider against PyTorch, per batch size.

    Every backend runs in its own process with the same CPU thread count; p50/p90/p99
    latency, images/s (batch / p50) and peak memory per batch size; outputs are
    checked against PyTorch once. An image-to-image export (pix2pix, cyclegan, srgan) is
    timed per source size and batch size on random sources, in ms per image and output
    megapixels per second, with onnxruntime only.

    \b
      ganzoo bench exports/dcgan.onnx
      ganzoo bench runs/vanilla-20260101-120000 --batch-sizes 1,64 --json bench.json
      ganzoo bench exports/dcgan.onnx --providers cuda,tensorrt --fp16 --compile
      ganzoo bench exports/srgan.onnx --sizes 32,64,128 --batch-sizes 1,4
    """
    from ganzoo.bench import busy_note, format_table, run_bench, write_json

    if json_path:
        check_writable(json_path, "choose another --json path", suffix=".json")
    result = run_bench(target, batch_sizes=batch_sizes, providers=providers, with_torch=with_torch,
                       compile_=compile_, fp16=fp16, warmup=warmup, runs=runs, max_time=max_time, threads=threads,
                       run_dir=run_dir, progress=not quiet, echo=lambda line: click.echo(line, err=True),
                       source_sizes=sizes)
    click.echo(format_table(result))
    note = busy_note(result)
    if note:
        click.echo(note)
    if json_path:
        click.echo(f"wrote {write_json(result, json_path)}")
    if not result["check"]["ok"]:
        worst = {k: v for k, v in result["check"]["diffs"].items() if v is None or v > result["check"]["tolerances"][k]}
        raise GanzooError(f"output check failed: {', '.join(worst)} disagree with {result['check']['reference']} "
                          "beyond the limit; was the run trained further after export? re-export it")


# -- plugin authoring -------------------------------------------------------------------------
@cli.group("plugin")
def plugin_group() -> None:
    """Tools for plugin authors (tutorial: docs/plugins.md)."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(), default=".", show_default=True,
              help="Folder to create the package ganzoo-NAME in.")
@click.option("--kind", type=click.Choice(["generate", "translate"]), default="generate", show_default=True,
              help="generate: a noise -> sample GAN (an MLP); translate: an image-to-image model (pix2pix-style).")
def plugin_new_cmd(name: str, directory: str, kind: str) -> None:
    """Write a ready-to-publish plugin package ganzoo-NAME registering model NAME.

    \b
    It holds a pyproject with the `ganzoo` entry point, a hook module (strings only,
    so `ganzoo list` stays torch-free), a working torch model (an MLP GAN, or with
    --kind translate a small image-to-image model), tests that run the conformance
    kit (ganzoo.testing) and a README. Its tests pass right away:
      ganzoo plugin new demo
      pip install -e ./ganzoo-demo && python -m pytest ganzoo-demo -q
    """
    from ganzoo.scaffold import new_plugin

    path = new_plugin(name, directory, kind)
    click.echo(f"wrote {path} (package ganzoo_{name.replace('-', '_')}, entry point and model '{name}')")
    click.echo(f"next: pip install -e {path} && python -m pytest {path} -q")


def _load_plugins() -> None:
    """Plugins load before every command, ``--help`` included, so each way that can go wrong
    there is one line: a traceback through a plugin's imports helps nobody run ``ganzoo``."""
    from ganzoo.registry import PluginInterrupted

    try:
        registry = _registry()
        before = len(registry.failures)
        registry.add_commands(cli)
    except GanzooError as exc:  # GANZOO_STRICT_PLUGINS=1, or a bad GANZOO_SLOW_PLUGIN_SECONDS
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except PluginInterrupted as stop:  # Ctrl-C while a plugin's code ran: name it
        click.echo(f"Error: {stop.line()}", err=True)
        sys.exit(130)
    except KeyboardInterrupt:  # Ctrl-C between two plugins
        click.echo("Error: interrupted while loading plugins", err=True)
        sys.exit(130)
    for failure in registry.failures[before:]:  # command hooks run after the first warnings were printed
        click.echo(failure.line(), err=True)


def main() -> None:
    _load_plugins()
    try:
        cli(prog_name="ganzoo")
    except SystemExit as done:
        _leave(done)


def _leave(done: SystemExit) -> None:
    """End the process once the command is over. With PyTorch loaded, tearing the interpreter
    down module by module took half a second after every command, more on a busy machine
    (benchmarks/results/startup.md): a third of a one-step run. So exit handlers run, the
    streams are flushed and the process ends at once. ganzoo's commands close every file they write before this;
    a plugin's command, one with threads still running, a torch-free one, or a process under a
    profiler or tracer exits the ordinary way."""
    import threading

    code = done.code
    busy = any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread())
    ordinary = busy or not _OWN or not all(_OWN) or sys.gettrace() is not None or sys.getprofile() is not None
    if "torch" not in sys.modules or ordinary or not (code is None or isinstance(code, int)):
        raise done
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream: leave the ordinary way, which reports it
        raise done from None
    os._exit(code or 0)
