#!/usr/bin/env python3
"""Runs a command and samples its /proc/PID/status (VmRSS, RssAnon, RssFile) every --every seconds; prints the peak
(and when), a timeline of the maxima per --step seconds, and the command's stderr lines stamped with their arrival
time (e.g. `layerstats scan --timings`, and LAYERSTATS_MEMORY_TRACE=1: a line per section of the end-of-run step), so the peak can be placed in a phase.

usage: benchmarks/scan/rss-sample.py [--every 0.02] [--step 0.5] -- COMMAND ARGS...
"""
import argparse
import subprocess
import sys
import threading
import time


def read_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "Threads"):
                    out[k] = int(v.split()[0])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=float, default=0.02)
    ap.add_argument("--step", type=float, default=0.5)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    lines = []

    def pump():
        for line in p.stderr:
            lines.append((time.monotonic() - t0, line.rstrip("\n")))

    th = threading.Thread(target=pump, daemon=True)
    th.start()
    samples = []
    while p.poll() is None:
        s = read_status(p.pid)
        if s:
            samples.append((time.monotonic() - t0, s))
        time.sleep(a.every)
    th.join()
    if not samples:
        print("no samples", file=sys.stderr)
        return p.returncode
    peak = max(samples, key=lambda x: x[1].get("VmRSS", 0))
    panon = max(samples, key=lambda x: x[1].get("RssAnon", 0))
    print(f"exit {p.returncode}; {len(samples)} samples over {samples[-1][0]:.2f} s")
    print(f"peak VmRSS {peak[1]['VmRSS'] / 1024:.0f} MiB at {peak[0]:.2f} s (anon {peak[1].get('RssAnon', 0) / 1024:.0f}, "
          f"file {peak[1].get('RssFile', 0) / 1024:.0f}); peak RssAnon {panon[1]['RssAnon'] / 1024:.0f} MiB at {panon[0]:.2f} s")
    events = sorted([(t, "  | " + l) for t, l in lines])
    step, i, t = a.step, 0, 0.0
    rows = []
    while i < len(samples):
        chunk = []
        while i < len(samples) and samples[i][0] < t + step:
            chunk.append(samples[i])
            i += 1
        if chunk:
            m = max(chunk, key=lambda x: x[1].get("VmRSS", 0))[1]
            rows.append((t, f"{t:7.2f} s  rss {m.get('VmRSS', 0) / 1024:6.0f}  anon {m.get('RssAnon', 0) / 1024:6.0f}  "
                            f"file {m.get('RssFile', 0) / 1024:5.0f}  threads {m.get('Threads', 0)}"))
        t += step
    for _, text in sorted(rows + events, key=lambda x: x[0]):
        print(text)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
