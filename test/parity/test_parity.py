"""pytest entry point: runs the quick parity check (first 2000 texts of each
corpus) against the build folder named by DM_BUILD (default: build).
The full run is `python3 test/parity/parity.py`."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def test_parity_quick():
    build = os.environ.get("DM_BUILD", "build")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "parity.py"), "--quick",
                           "--build", build], capture_output=True, text=True)
    print(proc.stdout[-20000:])
    print(proc.stderr[-5000:], file=sys.stderr)
    assert proc.returncode == 0, proc.stdout.strip().splitlines()[-1:] or proc.stderr[-2000:]
