"""A service's main loop under a storm of signals: SIGHUPs reload (once per burst) and
the SIGTERM that follows stops it. The handlers take no lock: one that did
(``threading.Event.set``) deadlocked a processor that got SIGTERM twice at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, signal, threading, time
    from smartpark.commands import wait_for_signal

    reloads = []

    def storm():
        time.sleep(0.5)  # the handlers are installed
        for _ in range(2000):
            os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.5)  # the burst's reload has run
        for _ in range(50):
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=storm, daemon=True).start()
    wait_for_signal(on_reload=lambda: reloads.append(1), every=lambda: None)
    print("reloads", len(reloads))
    """
)


def test_a_storm_of_signals_reloads_in_bursts_and_stops() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    reloads = int(done.stdout.split()[-1])
    assert 0 < reloads < 2000  # SIGHUPs of one 0.2 s turn reload once
