"""Keep a run offline: MediaPipe's usage reporting is refused before it can connect.

The MediaPipe Tasks wheels (0.10.35 and later; 1.2.2 here) carry a usage-logging client that
POSTs to Google from a background thread through libcurl, with no switch to turn it off
(google-ai-edge/mediapipe#6291). A facial-nerve exam must not leave the machine, so before
MediaPipe is loaded every proxy variable libcurl reads is pointed at a scheme it does not
know: each such request then fails inside libcurl, before any name lookup or connection
(checked by ``tests/test_corpus.py::test_an_analysis_opens_no_network_connection``).

The command line runs each command inside :func:`network_refused` (the environment is changed
for the command, whose child processes inherit it, and restored after it, so that a script or
test calling ``facescore.cli.main`` keeps its own); a notebook or script that wants the same
for ``analyze()`` calls :func:`refuse_network` itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager

#: A proxy "address" whose scheme no HTTP client knows: every request through it fails at once.
BLOCKED_PROXY = "facescore-offline://none"
#: The variables libcurl (and most HTTP clients) take a proxy from.
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY")
#: The variables that would exempt hosts from the proxy.
EXEMPTION_VARIABLES = ("no_proxy", "NO_PROXY")


def refuse_network(environ: MutableMapping[str, str] | None = None) -> None:
    """Make HTTP(S) requests from this process and its children fail without connecting.

    Parameters
    ----------
    environ : mapping, optional
        The environment to change (default: this process's, ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    for name in PROXY_VARIABLES:
        environ[name] = BLOCKED_PROXY
    for name in EXEMPTION_VARIABLES:
        environ.pop(name, None)


@contextmanager
def network_refused() -> Iterator[None]:
    """:func:`refuse_network` for the duration of a ``with`` block, the environment restored
    after it."""
    names = PROXY_VARIABLES + EXEMPTION_VARIABLES
    before = {name: os.environ.get(name) for name in names}
    refuse_network()
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
