"""Reports consume an :class:`facescore.analysis.Analysis`; nothing in the core imports them."""

from .document import report_dict, validate_report
from .writer import write_outputs

__all__ = ["report_dict", "validate_report", "write_outputs"]
