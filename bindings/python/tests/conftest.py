"""Fixtures: a real `hush-relay` on 127.0.0.1 (stopped after the tests that use it) and a
helper that makes users in a temporary folder."""

import os
import pathlib
import re
import select
import subprocess
import time

import pytest

import hush

REPO = pathlib.Path(__file__).resolve().parents[3]
PASSPHRASE = "correct horse battery staple"


def relay_binary() -> pathlib.Path:
    """HUSH_RELAY_BIN, else the debug build in CARGO_TARGET_DIR or the repository's target/."""
    if os.environ.get("HUSH_RELAY_BIN"):
        return pathlib.Path(os.environ["HUSH_RELAY_BIN"])
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "hush-relay"


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    """Starts hush-relay on a free UDP port of 127.0.0.1 and yields its hush:// address."""
    binary = relay_binary()
    if not binary.is_file():
        pytest.fail(f"no relay binary at {binary}: build it (cargo build -p hush-relay) or set HUSH_RELAY_BIN")
    data = tmp_path_factory.mktemp("relay")
    err = open(data / "relay.err", "w")
    proc = subprocess.Popen(
        [str(binary), "--listen", "127.0.0.1:0", "--data", str(data / "data")],
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                line = proc.stdout.readline()
                found = re.search(r"hush://\S+", line)
                if found:
                    url = found.group(0)
        if url is None:
            err.flush()
            pytest.fail(f"the relay did not start: {(data / 'relay.err').read_text()}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        err.close()


@pytest.fixture
def make_user(tmp_path, relay):
    """make_user("alice", "Alice") creates an account in a new store in the test's folder."""

    def make(home: str, name: str) -> hush.Client:
        return hush.Client.create(str(tmp_path / f"{home}.db"), PASSPHRASE, name, relay)

    return make
