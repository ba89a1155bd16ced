"""``ganzoo plugin new NAME``: write a ready-to-publish plugin package.

The package is the smallest complete example of the third-party path: a
``pyproject.toml`` with the ``ganzoo`` entry point, a hook module holding only
strings (so ``ganzoo list`` stays free of torch), a torch module with a working
MLP GAN (or, with ``--kind translate``, a small image-to-image model), a test file
that runs ganzoo's conformance kit over everything the plugin registers, and a
README with the commands to install, test, train and publish.
Its tests pass right after ``pip install -e``; authors change the example into
their model and keep the tests green.

The files are written into a temporary sibling folder and renamed into place, so a
failure never leaves half a package behind, and an existing folder is never touched.
"""

from __future__ import annotations

import re
import shutil
import textwrap
import uuid
from pathlib import Path

from ganzoo.errors import GanzooError, writing

#: Plugin names: lowercase words joined by hyphens ("demo", "my-gan"); they become the
#: entry point, the model name, ``ganzoo-NAME`` (distribution) and ``ganzoo_NAME`` (package).
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
MAX_NAME = 40


def check_name(name: str) -> None:
    """One-line errors for names that cannot become a package, an entry point and a model."""
    if not NAME_PATTERN.match(name or "") or len(name) > MAX_NAME:
        raise GanzooError(
            f"plugin name {name!r} is not valid: use lowercase letters, digits and single hyphens, starting "
            f"with a letter, at most {MAX_NAME} characters (e.g. demo or my-gan)"
        )
    if name.startswith("ganzoo"):
        raise GanzooError(f"plugin name {name!r} must not start with 'ganzoo' (the package becomes ganzoo-{name}); "
                          f"drop the prefix, e.g. ganzoo plugin new {name.removeprefix('ganzoo').strip('-') or 'demo'}")
    from ganzoo.registry import get_registry

    registry = get_registry()
    if any(p.name == name for p in registry.plugins):
        raise GanzooError(f"a plugin named '{name}' is already installed; choose another name")
    if registry.list("model", name):
        raise GanzooError(f"a model named '{name}' is already registered; choose another name so "
                          f"`ganzoo train {name}` stays unambiguous")


#: What ``ganzoo plugin new --kind`` writes: a noise -> image GAN, or an image-to-image model.
KINDS = ("generate", "translate")


def new_plugin(name: str, directory: str | Path = ".", kind: str = "generate") -> Path:
    """Write the package ``ganzoo-NAME`` into ``directory`` and return its path."""
    check_name(name)
    if kind not in KINDS:
        raise GanzooError(f"--kind must be {' or '.join(KINDS)}, got {kind!r}")
    parent = Path(directory)
    if parent.exists() and not parent.is_dir():
        raise GanzooError(f"--dir '{parent}' is a file; pass a folder")
    target = parent / f"ganzoo-{name}"
    if target.exists():
        raise GanzooError(f"'{target}' already exists; remove it or pass another --dir (nothing was overwritten)")
    staging = parent / f".ganzoo-{name}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        with writing(target, "pass another --dir"):
            parent.mkdir(parents=True, exist_ok=True)
            for relative, text in render(name, kind).items():
                path = staging / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def render(name: str, kind: str = "generate") -> dict[str, str]:
    """The package's files (relative path → text) for plugin ``name`` of ``kind`` (:data:`KINDS`)."""
    from ganzoo import __version__

    package = "ganzoo_" + name.replace("-", "_")
    values = {"name": name, "package": package, "dist": f"ganzoo-{name}",
              "ganzoo_min": ".".join(__version__.split(".")[:2]), "title": name.replace("-", " ").title()}

    def fill(text: str) -> str:
        text = textwrap.dedent(text).lstrip("\n")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        return text

    translate = kind == "translate"
    return {
        "pyproject.toml": fill(_PYPROJECT),
        "README.md": fill(_README_TRANSLATE if translate else _README),
        ".gitignore": fill(_GITIGNORE),
        f"{package}/__init__.py": fill(_INIT),
        f"{package}/plugin.py": fill(_PLUGIN.replace("{{spec}}", _TRANSLATE_SPEC if translate else _MODEL_SPEC)),
        f"{package}/models.py": fill(_MODELS_TRANSLATE if translate else _MODELS),
        f"tests/test_{package.removeprefix('ganzoo_')}.py": fill(_TESTS_TRANSLATE if translate else _TESTS),
    }


_PYPROJECT = '''
    [build-system]
    requires = ["setuptools>=68"]
    build-backend = "setuptools.build_meta"

    [project]
    name = "{{dist}}"
    version = "0.1.0"
    description = "{{title}}: a model for the ganzoo GAN zoo"
    readme = "README.md"
    requires-python = ">=3.10"
    license = { text = "MIT" }
    # ganzoo-onnx[train] brings torch (the base install is torch-free); plugin API 1.x (ganzoo.PLUGIN_API_VERSION).
    dependencies = ["ganzoo-onnx[train]>={{ganzoo_min}}"]

    [project.optional-dependencies]
    test = ["pytest>=8"]

    # How ganzoo finds the plugin: group "ganzoo", entry point name = plugin name.
    [project.entry-points.ganzoo]
    {{name}} = "{{package}}.plugin"

    [tool.setuptools.packages.find]
    include = ["{{package}}*"]

    [tool.pytest.ini_options]
    testpaths = ["tests"]
'''

_README = '''
    # {{dist}}

    A plugin for ganzoo, the plugin-based GAN model zoo, registering the model `{{name}}`:
    a small multilayer-perceptron GAN, the starting point for your own model.

    ## Install and test

    ```bash
    pip install -e .            # registers the entry point: ganzoo list now shows {{name}}
    python -m pytest -q         # ganzoo's conformance kit over everything the plugin registers
    ```

    ## Use

    ```bash
    ganzoo list models                                   # {{name}} with this package's version
    ganzoo train {{name}} --steps 2000 --out runs/{{name}}    # ring8 by default; --dataset digits for images
    ganzoo export runs/{{name}} --onnx -o {{name}}.onnx        # verified against PyTorch
    ganzoo generate {{name}}.onnx -o samples.png              # onnxruntime only, no torch
    ganzoo eval runs/{{name}}                               # mode coverage on ring8
    ```

    Model options: `--set hidden=256` (width of the hidden layers).

    ## Make it yours

    - `{{package}}/models.py`: the torch networks. Keep the contract: the generator has
      `latent_dim`, `num_classes`, `output_shape` and `forward(z, labels=None)` returning
      `[N, *output_shape]` (images in [-1, 1], no randomness inside forward); the
      discriminator's `forward(x, labels=None)` returns raw logits `[N]`.
    - `{{package}}/plugin.py`: the `ModelSpec` (name, summary, paper, defaults, options).
      Only hook implementations and strings here: the `"{{package}}.models:..."` targets
      are imported when a model is built, so `ganzoo list` never imports torch.
    - `tests/`: keep `parametrize_with_checks(plugin="{{name}}")`; it checks every model,
      loss, regularizer and data set the plugin registers.

    The tutorial and the hook reference: ganzoo's `docs/plugins.md`.

    ## Publish

    ```bash
    python -m pip install build twine
    python -m build                 # dist/{{package}}-0.1.0-py3-none-any.whl and the sdist
    python -m twine upload dist/*   # then anyone can: pip install {{dist}}
    ```
'''

_GITIGNORE = '''
    __pycache__/
    *.egg-info/
    build/
    dist/
    runs/
    *.onnx
'''

_INIT = '''
    """{{title}}: a ganzoo plugin. Importing it does not import torch."""

    __version__ = "0.1.0"
'''

_PLUGIN = '''
    """The ganzoo plugin module of {{dist}} (entry point "{{name}}" in group "ganzoo").

    Only hook implementations and strings live here. The specs point at the torch code
    with "package.module:attr" strings that ganzoo imports when it builds a model, so
    `ganzoo list` stays fast however heavy the model is.
    """

    import ganzoo
    from ganzoo import ModelSpec, hookimpl
    from ganzoo.specs import Defaults

    # Written against plugin API 1.x: an ImportError here becomes a recorded plugin
    # failure (shown by `ganzoo plugins`) instead of a confusing error during training.
    if ganzoo.PLUGIN_API_VERSION.split(".")[0] != "1":
        raise ImportError(
            f"{{dist}} needs ganzoo plugin API 1.x, this ganzoo has {ganzoo.PLUGIN_API_VERSION}; "
            "upgrade it: pip install -U {{dist}}"
        )


    @hookimpl
    def ganzoo_register_models(register):
        {{spec}}
'''

_MODELS = '''
    """The torch networks of {{dist}}: a multilayer-perceptron GAN for any data shape.

    Imported only when ganzoo builds the model (the spec names these classes by string).
    The factories are called as ``Generator(shape=..., num_classes=..., latent_dim=...,
    **options)``; the spec's options (here ``hidden``) arrive as keywords.
    """

    from __future__ import annotations

    import math

    import torch
    from torch import Tensor, nn

    from ganzoo import GanzooError


    def _check_hidden(hidden: object) -> int:
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise GanzooError(f"{{name}}: --set hidden must be a positive integer such as 128, got {hidden!r}")
        return hidden


    class Generator(nn.Module):
        """z [N, latent_dim] (and labels [N] if conditional) -> samples [N, *shape].

        Two hidden layers with BatchNorm and ReLU; Tanh for images, whose contract range
        is [-1, 1]; a linear output for vectors (2-D points are unbounded)."""

        def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 16,
                     hidden: int = 128) -> None:
            super().__init__()
            hidden = _check_hidden(hidden)
            # The three attributes every ganzoo generator carries (export and sampling read them).
            self.latent_dim, self.num_classes, self.output_shape = latent_dim, num_classes, tuple(shape)
            self.embed = nn.Embedding(num_classes, hidden) if num_classes else None
            in_dim = latent_dim + (hidden if num_classes else 0)
            self.net = nn.Sequential(
                nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                nn.Linear(hidden, math.prod(self.output_shape)),
            )
            self.images = len(self.output_shape) == 3

        def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
            if self.embed is not None:
                if labels is None:
                    raise GanzooError("this generator is conditional: pass labels int64 [N]")
                z = torch.cat([z, self.embed(labels)], dim=1)
            out = self.net(z).view(z.shape[0], *self.output_shape)
            return torch.tanh(out) if self.images else out


    class Discriminator(nn.Module):
        """samples [N, *shape] (and labels [N]) -> raw logits [N]; the losses apply the sigmoid."""

        def __init__(self, shape: tuple[int, ...], num_classes: int = 0, latent_dim: int = 16,
                     hidden: int = 128) -> None:
            super().__init__()
            hidden = _check_hidden(hidden)
            self.num_classes = num_classes
            self.embed = nn.Embedding(num_classes, hidden) if num_classes else None
            in_dim = math.prod(shape) + (hidden if num_classes else 0)
            self.net = nn.Sequential(
                nn.Linear(in_dim, hidden), nn.LeakyReLU(0.2),
                nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                nn.Linear(hidden, 1),
            )

        def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
            h = x.flatten(1)
            if self.embed is not None:
                if labels is None:
                    raise GanzooError("this discriminator is conditional: pass labels int64 [N]")
                h = torch.cat([h, self.embed(labels)], dim=1)
            return self.net(h).squeeze(1)
'''

_TESTS = '''
    """Tests of {{dist}}. Run them with: python -m pytest -q

    ganzoo's conformance kit turns each contract of a ganzoo model into one test:
    spec fields, generator and discriminator shapes and ranges, eval determinism, a
    few training steps with finite losses, a safetensors round trip and a verified
    ONNX export -- each failure says what to fix. The plugin's own behaviour is tested
    below it.
    """

    import pytest

    from ganzoo import GanzooError
    from ganzoo.testing import parametrize_with_checks


    # Every entry the plugin registers, on 2-D points (its default) and on 8x8 digit images.
    @parametrize_with_checks(plugin="{{name}}", dataset=("ring8", "digits"))
    def test_conformance(check):
        check()


    def test_hidden_option_sets_the_width():
        from {{package}}.models import Generator

        G = Generator(shape=(2,), latent_dim=16, hidden=32)
        assert G.net[0].out_features == 32


    def test_bad_hidden_option_is_a_one_line_error():
        from {{package}}.models import Discriminator

        with pytest.raises(GanzooError, match="--set hidden"):
            Discriminator(shape=(2,), hidden=0)
'''


#: The model spec of each kind of template, written into :data:`_PLUGIN`.
_MODEL_SPEC = '''register(ModelSpec(
            name="{{name}}",
            summary="Example MLP GAN from the ganzoo plugin template",
            paper="Goodfellow et al. 2014, Generative Adversarial Nets",
            generator="{{package}}.models:Generator",
            discriminator="{{package}}.models:Discriminator",
            loss="nonsaturating",
            dataset="ring8",
            defaults=Defaults(latent_dim=16, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), steps=3000),
            options={"hidden": 128},
        ))'''

_TRANSLATE_SPEC = '''register(ModelSpec(
            name="{{name}}",
            summary="Example image-to-image model from the ganzoo plugin template (pix2pix-style)",
            paper="after Isola et al. 2017, Image-to-Image Translation with Conditional Adversarial Networks",
            generator="{{package}}.models:Translator",
            discriminator="{{package}}.models:PatchDiscriminator",
            task="translate",
            data_kinds=("pairs",),
            loss="nonsaturating",
            dataset="edges2digits",
            terms=("l1:100",),
            defaults=Defaults(batch_size=16, steps=2000),
            options={"width": 32},
        ))'''

_MODELS_TRANSLATE = '''
    """The torch networks of {{dist}}: a small image-to-image model, pix2pix-style.

    Imported only when ganzoo builds the model (the spec names these classes by string).
    The factories are called as ``Translator(shape=..., source_shape=..., num_classes=0,
    latent_dim=..., **options)``: ``source_shape`` is the source images' (C, H, W), ``shape``
    the targets'. Both networks are fully convolutional, so the ONNX export takes any even
    height and width.
    """

    from __future__ import annotations

    import torch
    from torch import Tensor, nn

    from ganzoo import GanzooError


    def _check_width(width: object) -> int:
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise GanzooError(f"{{name}}: --set width must be a positive integer such as 32, got {width!r}")
        return width


    class Translator(nn.Module):
        """source [N, C, H, W] -> image [N, C', H, W] in [-1, 1]: one stride-2 level and back, with
        the source beside the last layer (a U-Net's skip connection)."""

        def __init__(self, shape: tuple[int, ...], source_shape: tuple[int, ...], num_classes: int = 0,
                     latent_dim: int = 0, width: int = 32) -> None:
            super().__init__()
            width = _check_width(width)
            # The four attributes every ganzoo image-to-image generator carries.
            self.source_shape, self.output_shape = tuple(source_shape), tuple(shape)
            self.scale, self.multiple = 1, 2  # same size out; height and width must be even
            c_in, c_out = source_shape[0], shape[0]
            self.down = nn.Sequential(nn.Conv2d(c_in, width, 4, 2, 1), nn.InstanceNorm2d(width, affine=True),
                                      nn.LeakyReLU(0.2))
            self.up = nn.Sequential(nn.ConvTranspose2d(width, width, 4, 2, 1), nn.InstanceNorm2d(width, affine=True),
                                    nn.ReLU())
            self.out = nn.Conv2d(width + c_in, c_out, 3, padding=1)

        def forward(self, source: Tensor) -> Tensor:
            h = self.up(self.down(source))
            return torch.tanh(self.out(torch.cat([h, source], dim=1)))


    class PatchDiscriminator(nn.Module):
        """(image, source) -> a map of raw logits [N, h, w], one per patch; the losses average it."""

        def __init__(self, shape: tuple[int, ...], source_shape: tuple[int, ...], num_classes: int = 0,
                     latent_dim: int = 0, width: int = 32) -> None:
            super().__init__()
            width = _check_width(width)
            self.net = nn.Sequential(
                nn.Conv2d(shape[0] + source_shape[0], width, 4, 2, 1), nn.LeakyReLU(0.2),
                nn.Conv2d(width, width * 2, 4, 2, 1), nn.InstanceNorm2d(width * 2, affine=True), nn.LeakyReLU(0.2),
                nn.Conv2d(width * 2, 1, 3, padding=1),
            )

        def forward(self, x: Tensor, source: Tensor | None = None) -> Tensor:
            if source is None:
                raise GanzooError("{{name}}'s discriminator judges (image, source) pairs: call it as D(image, source)")
            return self.net(torch.cat([x, source], dim=1)).squeeze(1)
'''

_TESTS_TRANSLATE = '''
    """Tests of {{dist}}. Run them with: python -m pytest -q

    ganzoo's conformance kit turns each contract of a ganzoo image-to-image model into one
    test: spec fields, the translator's attributes and shapes, eval determinism, the
    discriminator's map of logits, a few training steps on the paired data set, a
    safetensors round trip and an ONNX export verified at several sizes -- each failure
    says what to fix. The plugin's own behaviour is tested below it.
    """

    import pytest

    from ganzoo import GanzooError
    from ganzoo.testing import parametrize_with_checks


    # Every entry the plugin registers, on the model's own paired data set (edges2digits).
    @parametrize_with_checks(plugin="{{name}}", batch_size=4, options={"width": 8})
    def test_conformance(check):
        check()


    def test_bad_width_is_a_one_line_error():
        from {{package}}.models import Translator

        with pytest.raises(GanzooError, match="--set width"):
            Translator(shape=(1, 32, 32), source_shape=(1, 32, 32), width=0)
'''

_README_TRANSLATE = '''
    # {{dist}}

    A plugin for ganzoo, the plugin-based GAN model zoo, registering the image-to-image
    model `{{name}}`: a small pix2pix-style translator (edges -> digits by default), the
    starting point for your own.

    ## Install and test

    ```bash
    pip install -e .            # registers the entry point: ganzoo list now shows {{name}}
    python -m pytest -q         # ganzoo's conformance kit over everything the plugin registers
    ```

    ## Use

    ```bash
    ganzoo train {{name}} --out runs/{{name}}                 # edges2digits, offline
    ganzoo sample runs/{{name}} -o translations.png         # held-out sources, translations, targets
    ganzoo export runs/{{name}} --onnx -o {{name}}.onnx        # any batch, height and width; verified
    ganzoo translate {{name}}.onnx edges.png -o digit.png    # onnxruntime only, no torch
    ```

    Model options: `--set width=64`.

    ## Make it yours

    - `{{package}}/models.py`: the torch networks. Keep the contract: the generator has
      `source_shape`, `output_shape`, `scale` and `multiple` and `forward(source)` returning
      `[N, *output_shape]` in [-1, 1], fully convolutional; the discriminator's
      `forward(image, source)` returns raw logits `[N]` or a map `[N, h, w]`.
    - `{{package}}/plugin.py`: the `ModelSpec` (`task="translate"`, the paired data set, the
      model's own `l1` term). Only hook implementations and strings here.
    - `tests/`: keep `parametrize_with_checks(plugin="{{name}}")`.

    The tutorial and the hook reference: ganzoo's `docs/plugins.md`, section 9.

    ## Publish

    ```bash
    python -m pip install build twine
    python -m build                 # dist/{{package}}-0.1.0-py3-none-any.whl and the sdist
    python -m twine upload dist/*   # then anyone can: pip install {{dist}}
    ```
'''
