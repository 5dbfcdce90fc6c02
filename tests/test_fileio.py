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


# --------------------------------------------------------------------------- modes, stray temps, durability
# (issue 18, item 12)

@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_get_the_mode_the_umask_implies(tmp_path, umask, mode):
    """Like a plain open(): a group sharing the results folder can read records and tables."""
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "record.json", "{}")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode == plain.stat().st_mode & 0o777


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stray_temp_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    import socket

    host = socket.gethostname()
    stray = tmp_path / f".a.json.{host}.{_dead_pid()}.deadbeef.tmp"
    live = tmp_path / f".a.json.{host}.{os.getpid()}.cafe0000.tmp"  # a writer still running
    other = tmp_path / ".b.json.x.1.00.tmp"  # another file's temp is not ours to judge
    for p in (stray, live, other):
        p.write_bytes(b"partial")
    atomic_write_json(tmp_path / "a.json", {"v": 1})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["a.json", live.name, other.name])


def test_old_stray_temp_of_another_host_is_removed(tmp_path):
    stray = tmp_path / ".a.json.other-host.12345.00000000.tmp"
    stray.write_bytes(b"partial")
    fresh = tmp_path / ".a.json.other-host.12346.00000000.tmp"
    fresh.write_bytes(b"partial")
    old = time.time() - 2 * 24 * 3600
    os.utime(stray, (old, old))
    atomic_write_json(tmp_path / "a.json", {"v": 1})
    assert not stray.exists() and fresh.exists()


def test_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    import stat

    import factorbench.fileio as fileio

    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", recording_fsync)
    atomic_write_text(tmp_path / "a.txt", "x")
    assert synced == [False, True]  # the file's content, then the folder's entry
