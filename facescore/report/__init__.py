"""Reports consume an :class:`facescore.analysis.Analysis`; nothing in the core imports them."""

__all__ = ["report_dict", "validate_report", "write_outputs"]


def __getattr__(name: str):
    # Loaded when first asked for, so that a module of this package (the key frames' reader,
    # run in a child process of its own) can be imported without the analysis the writer needs.
    if name in ("report_dict", "validate_report"):
        from . import document

        return getattr(document, name)
    if name == "write_outputs":
        from .writer import write_outputs

        return write_outputs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
