"""Run one bench step's command as the child of this small process; then print its wall time and peak RSS.

    python -I -S bench/measure.py COMMAND...

Linux carries a process's peak RSS across fork and exec, so a step started straight from a driver that
has grown large (after synthesizing a month's ledger, say) would report the driver's peak as its own.
Started from here, the step's peak is its own (and its waited-for children's). The step's own output
passes through; one last line, `{"seconds": ..., "peak_kb": ..., "exit": ...}`, follows it on stdout.
SIGTERM and SIGINT sent to this process are passed on to the step (a server is stopped that way).
"""

import json
import os
import signal
import subprocess
import sys
import time

started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:])
for number in (signal.SIGTERM, signal.SIGINT):
    signal.signal(number, lambda received, _frame: child.send_signal(received))
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - started
sys.stdout.write(json.dumps({"seconds": seconds, "peak_kb": usage.ru_maxrss,
                             "exit": os.waitstatus_to_exitcode(status)}) + "\n")
