"""nascost: latency-aware differentiable neural architecture search.

The core holds interfaces, the plugin system, the data store, the search loop
and the CLI. Search spaces, measurers, predictors and datasets are plugins
(see ``plugins/`` and the ``nascost`` entry-point group).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nascost")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

from nascost.errors import NascostError

__all__ = ["NascostError", "__version__"]
