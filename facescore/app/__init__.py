"""The clinic web app behind ``facescore serve``.

``server`` (FastAPI pages and uploads, uvicorn), ``store`` (patients, treatments and visits in
the SQLite store shared with ``facescore session`` and ``history``), ``worker`` (the separate
analysis process that works through the queue), ``media`` (what an upload is), ``reports``
(what the pages show of a report's files), ``timeline`` (plot geometry), ``security``
(loopback, token, cross-site checks). Templates and static files are local: the app needs no
network. A measurement aid, not a diagnostic device.
"""
