"""course_lib: the small, tested library that the chapters and labs of the course import.

Import the submodule you need, module-qualified, e.g. ``from course_lib import data, models``.
Nothing here runs at import time: no seeding, no downloads, no global settings.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
