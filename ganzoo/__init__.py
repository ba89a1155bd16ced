"""ganzoo: a plugin-based GAN model zoo for PyTorch with verified ONNX export.

Importing the package stays cheap (no torch): the registry and specs are plain
Python, and torch is imported only by the factories that build modules.
"""

from ganzoo.errors import GanzooError
from ganzoo.hookspecs import hookimpl
from ganzoo.specs import DatasetSpec, LossSpec, ModelSpec, RegularizerSpec

__version__ = "0.2.0"

#: Version of the plugin contract (hook names, their arguments, the spec fields and
#: :mod:`ganzoo.api`). A minor bump adds; a major bump may break plugins written against
#: the old one. 1.1 added objectives (ganzoo.api), D heads, G codes and ganzoo.layers.
PLUGIN_API_VERSION = "1.2"

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
