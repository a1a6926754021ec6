"""What else ran on the machine while a step was timed.

The benchmarks run on shared 2-core machines where other people's builds and tests run at the
same time. A Monitor samples /proc once a second during a step: the 1-minute load average, and
the CPU time of every process that is not ours (not a descendant of this Python process, which
starts the registry, buildkitd and its containers), grouped by command name. A step whose
"other load" is a sizeable part of a core ran next to someone else's work; its seconds are
noisier. Processes living less than a second between two samples are missed, so this is a lower
bound."""

import os
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def processes():
    """pid -> (ppid, comm, cpu ticks) of every process readable in /proc."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm is in parentheses and may hold spaces; the fields after it are fixed
        lp, rp = stat.find("("), stat.rfind(")")
        rest = stat[rp + 2:].split()
        try:
            out[int(name)] = (int(rest[1]), stat[lp + 1:rp], int(rest[11]) + int(rest[12]))
        except (IndexError, ValueError):
            continue
    return out


def descendants(procs, root):
    """The pids of root and every process below it."""
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += children.get(pid, [])
    return seen


class Monitor:
    """with Monitor() as m: … ; then m.summary(): load and the other processes' CPU."""

    def __init__(self, interval=1.0, root=None):
        self.interval, self.root = interval, root or os.getpid()
        self.loads, self.others = [], {}  # comm -> CPU seconds
        self._stop = threading.Event()
        self._prev = None

    def _sample(self):
        procs = processes()
        ours = descendants(procs, self.root)
        if self._prev is not None:
            for pid, (_, comm, ticks) in procs.items():
                old = self._prev.get(pid)
                # kernel threads (children of kthreadd, pid 2) work for everyone: our own
                # writes are flushed by them too
                if pid in ours or old is None or old[1] != comm or pid == 2 or old[0] == 2:
                    continue
                d = (ticks - old[2]) / TICK
                if d > 0:
                    self.others[comm] = self.others.get(comm, 0.0) + d
        self._prev = procs
        self.loads.append(os.getloadavg()[0])

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self.t0 = time.monotonic()
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        self.seconds = time.monotonic() - self.t0
        return False

    def summary(self):
        """{"load": max 1-minute load average, "other_cores": others' CPU seconds per second,
        "top": the three busiest other commands}."""
        cpu = sum(self.others.values())
        top = sorted(self.others.items(), key=lambda kv: -kv[1])[:3]
        return {"load": max(self.loads) if self.loads else 0.0,
                "other_cores": cpu / self.seconds if self.seconds > 0 else 0.0,
                "top": [(c, round(s, 1)) for c, s in top if s >= 0.5]}
