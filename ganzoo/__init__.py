"""ganzoo: a plugin-based GAN model zoo for PyTorch with verified ONNX export.

Importing the package stays cheap (no torch): the registry and specs are plain
Python, and torch is imported only by the factories that build modules. The Python API
(``ganzoo.train``, ``load``, ``create_model``, ``export``, ``evaluate``, ``Run``, ``Generator``,
``Translator``;
docs/api.md) lives in :mod:`ganzoo.python_api` and is loaded on first use, for the same reason.
"""

from typing import TYPE_CHECKING, Any

from ganzoo.errors import GanzooError
from ganzoo.hookspecs import hookimpl
from ganzoo.specs import DatasetSpec, LossSpec, ModelSpec, RegularizerSpec

__version__ = "0.6.0"

#: Version of the plugin contract (hook names, their arguments, the spec fields and
#: :mod:`ganzoo.api`). A minor bump adds; a major bump may break plugins written against
#: the old one. 1.1 added objectives (ganzoo.api), D heads, G codes and ganzoo.layers;
#: 1.2 ImageFiles and uint8 Data.x; 1.3 Defaults.lr_decay; 1.4 needs_fake_grad, Step.log,
#: loss and regularizer params, truncation = "w"; 1.5 ModelSpec.data_kinds, Defaults.amp
#: and a run's class names; 1.6 image-to-image models (ModelSpec.task, paired and unpaired
#: data, Step.source, Defaults.pool; docs/plugins.md §7 and §9).
PLUGIN_API_VERSION = "1.6"

#: The Python API (docs/api.md) keeps the promise above as well: it shares PLUGIN_API_VERSION.
#: Its names resolve on first use (PEP 562), so ``import ganzoo`` never waits for the engine.
_PYTHON_API = ("Generator", "Run", "Translator", "create_model", "evaluate", "export", "load", "train")

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ below provides them
    from ganzoo.python_api import Generator, Run, Translator, create_model, evaluate, export, load, train


def __getattr__(name: str) -> Any:
    if name in _PYTHON_API:
        from ganzoo import python_api

        return getattr(python_api, name)
    raise AttributeError(f"module 'ganzoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PYTHON_API})


__all__ = [
    "DatasetSpec",
    "GanzooError",
    "Generator",
    "LossSpec",
    "ModelSpec",
    "PLUGIN_API_VERSION",
    "RegularizerSpec",
    "Run",
    "Translator",
    "create_model",
    "evaluate",
    "export",
    "hookimpl",
    "load",
    "train",
    "__version__",
]
