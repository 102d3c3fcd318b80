"""Type stubs for the compiled core, ofs_stitch._core (cpp/bindings): one submodule per area of
the C++ core (cpp/README.md), each with its own stub beside this one."""

from . import compose as compose
from . import fft as fft
from . import focus as focus
from . import image as image
from . import register as register
from . import resample as resample
from . import solve as solve
from . import spots as spots
