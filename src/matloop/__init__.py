"""matloop: machine learning for materials science that learns from little data.

Layers (data flows one way; lower layers never import higher ones)::

    io, datasets -> represent -> models -> evaluate -> design -> report ;  cli on top
"""

from matloop.errors import InputError, MatloopError

__version__ = "0.1.0"
__all__ = ["InputError", "MatloopError", "__version__"]
