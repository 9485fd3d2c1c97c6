"""Interleaved timing of commands: each round runs every command once, in an order rotated
by one each round (so none always runs first after another's cache effects), with stdin and
stdout on /dev/null. Wall time from perf_counter around posix_spawn + wait4, CPU time (user +
system of the child and its children it waited for) from wait4's rusage.

A command may carry its own environment and a `prepare` step run before each of its timed
runs and not timed (a first run: remove the cache it is about to fill).
"""

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field


@dataclass
class Cmd:
    label: str
    argv: list
    env: dict = field(default_factory=dict)
    prepare: object = None  # a callable run before each timed run, untimed
    wall: list = field(default_factory=list)
    cpu: list = field(default_factory=list)

    def environ(self):
        env = dict(os.environ)
        env.update(self.env)
        return env


def _once(cmd, null_in, null_out):
    if cmd.prepare:
        cmd.prepare()
    env = cmd.environ()
    t = time.perf_counter()
    pid = os.posix_spawn(
        cmd.argv[0],
        cmd.argv,
        env,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, null_in, 0),
            (os.POSIX_SPAWN_DUP2, null_out, 1),
            (os.POSIX_SPAWN_DUP2, null_out, 2),
        ],
    )
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd.label}: exit status {os.waitstatus_to_exitcode(status)}: {cmd.argv}")
    return wall, usage.ru_utime + usage.ru_stime


def check(cmd):
    """One untimed run that returns (ok, stdout or the reason it failed)."""
    if cmd.prepare:
        cmd.prepare()
    try:
        r = subprocess.run(cmd.argv, env=cmd.environ(), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()[-3:]
        return False, f"exit {r.returncode}: " + " | ".join(tail)
    return True, r.stdout


def interleaved(cmds, rounds, warmup=3):
    """Runs every command `warmup` times (untimed) then `rounds` times, interleaved."""
    null_in = os.open(os.devnull, os.O_RDONLY)
    null_out = os.open(os.devnull, os.O_WRONLY)
    try:
        for _ in range(warmup):
            for c in cmds:
                _once(c, null_in, null_out)
        for r in range(rounds):
            k = r % len(cmds)
            for c in cmds[k:] + cmds[:k]:
                w, u = _once(c, null_in, null_out)
                c.wall.append(w)
                c.cpu.append(u)
                print(".", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    finally:
        os.close(null_in)
        os.close(null_out)


def median(xs):
    return statistics.median(xs) if xs else float("nan")
