"""Small pieces of the clinic app, without a server: template macros, the worker's stop."""

from __future__ import annotations

import pytest


def test_no_side_named_reads_neither_or_undecided_by_the_symmetry():
    """Below normal variation with no side named is "undecided", not "neither"."""
    from facescore.app.server import _templates

    template = _templates().from_string(
        '{% from "_forms.html.j2" import weaker %}'
        '{{ weaker(none, 60) }}|{{ weaker(none, 95) }}|{{ weaker("left", 40) }}|{{ weaker(none) }}')
    below, normal, named, unknown = template.render().split("|")
    assert "undecided" in below and "neither" in normal and "left" in named
    assert "neither" in unknown


def test_a_stop_arriving_inside_an_import_stops_the_worker_without_failing_the_visit(
        tmp_path, monkeypatch):
    """SIGTERM raised inside a C extension's import surfaces as an ImportError: the worker must
    stop (the visit is requeued at the next start), not fail this visit and every queued one."""
    import facescore
    from facescore.app import worker

    class Store:
        failed: list = []
        root = tmp_path

        def visit_dir(self, visit):
            return tmp_path

        def recording_path(self, visit):
            return tmp_path / "exam.mp4"

        def set_progress(self, *args):
            pass

        def fail_visit(self, visit_id, reason):
            self.failed.append(reason)

    def interrupted_import(*args, **kwargs):
        try:
            worker._stop()  # what the SIGTERM handler does, mid-import
        except SystemExit as stop:
            raise ImportError("initialization failed") from stop

    monkeypatch.setattr(facescore, "analyze", interrupted_import)
    monkeypatch.setattr(worker, "_stop_requested", False)
    store = Store()
    visit = {"id": 1, "segments": None, "n_frames": 10, "mirrored": 0}
    with pytest.raises(SystemExit):
        worker.analyse_visit(store, visit)
    assert store.failed == []
    # Without a stop, the same error is the visit's, in one line.
    monkeypatch.setattr(worker, "_stop_requested", False)
    monkeypatch.setattr(facescore, "analyze", lambda *a, **k: (_ for _ in ()).throw(
        ImportError("broken")))
    worker.analyse_visit(store, visit)
    assert len(store.failed) == 1 and "ImportError: broken" in store.failed[0]
