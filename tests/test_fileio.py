import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from factorbench.fileio import atomic_write, atomic_write_json, atomic_write_text


def test_atomic_write_replaces_content(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_json(path, {"v": 1})

    def half_then_crash(f):
        f.write(b'{"v": 2, "trunc')
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, half_then_crash)
    assert path.read_text().strip().startswith('{\n  "v": 1')
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_killed_process_mid_write_leaves_old_file(tmp_path):
    """A real SIGKILL while the new content is half written: the old file survives."""
    path = tmp_path / "result.json"
    atomic_write_text(path, "OLD")
    script = textwrap.dedent(f"""
        import time
        from factorbench.fileio import atomic_write
        def slow(f):
            f.write(b"NEW-PARTIAL")
            f.flush()
            time.sleep(60)
            f.write(b"-END")
        atomic_write({str(path)!r}, slow)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 30
        while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
            assert time.time() < deadline, "the writer never started"
            assert proc.poll() is None, "the writer exited early"
            time.sleep(0.02)
        time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert path.read_text() == "OLD"
