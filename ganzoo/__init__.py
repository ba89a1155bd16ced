"""ganzoo: a plugin-based GAN model zoo for PyTorch with verified ONNX export.

Importing the package stays cheap (no torch): the registry and specs are plain
Python, and torch is imported only by the factories that build modules.
"""

from ganzoo.errors import GanzooError
from ganzoo.hookspecs import hookimpl
from ganzoo.specs import DatasetSpec, LossSpec, ModelSpec, RegularizerSpec

__version__ = "0.4.0"

#: Version of the plugin contract (hook names, their arguments, the spec fields and
#: :mod:`ganzoo.api`). A minor bump adds; a major bump may break plugins written against
#: the old one. 1.1 added objectives (ganzoo.api), D heads, G codes and ganzoo.layers;
#: 1.2 ImageFiles and uint8 Data.x; 1.3 Defaults.lr_decay; 1.4 needs_fake_grad, Step.log,
#: loss and regularizer params, truncation = "w" (docs/plugins.md §7).
PLUGIN_API_VERSION = "1.4"

__all__ = [
    "DatasetSpec",
    "GanzooError",
    "LossSpec",
    "ModelSpec",
    "PLUGIN_API_VERSION",
    "RegularizerSpec",
    "hookimpl",
    "__version__",
]
