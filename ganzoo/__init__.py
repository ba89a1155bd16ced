"""ganzoo: a plugin-based GAN model zoo for PyTorch with verified ONNX export.

Importing the package stays cheap (no torch): the registry and specs are plain
Python, and torch is imported only by the factories that build modules.
"""

from ganzoo.errors import GanzooError
from ganzoo.hookspecs import hookimpl
from ganzoo.specs import DatasetSpec, LossSpec, ModelSpec, RegularizerSpec

__version__ = "0.1.0"

#: Version of the plugin contract (hook names, their arguments and the spec fields).
#: A minor bump adds; a major bump may break plugins written against the old one.
PLUGIN_API_VERSION = "1.0"

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
