#!/usr/bin/env python3
"""Runs the read-only PyTorch anchor (../shared/bench/torch_anchor.py) with
the peak resident memory of every workload added to its results.

The anchor is loaded as a module, not copied: its module-level `bench()`
(the function every workload is timed by) is wrapped so that it first resets
the kernel's peak-RSS mark (writing "5" to /proc/self/clear_refs; ignored
where that fails) and afterwards adds `peak_rss_mib` (VmHWM of
/proc/self/status, in MiB; None without /proc) to the record it returns.
`sc-bench speed` measures its own workloads the same way, and `cargo xtask
bench` runs one workload per process on both sides, so that the memory one
workload leaves behind does not count against the next.

Usage (every argument but --anchor goes to the anchor):
  python bench/anchor_rss.py --anchor ../shared/bench/torch_anchor.py \
      --threads 2 --models small --only a --json out.json
"""
import argparse
import functools
import importlib.util
import sys

# No __pycache__ beside the read-only anchor.
sys.dont_write_bytecode = True


def reset_peak_rss():
    """Resets VmHWM to the current RSS (Linux 4.0+); silent where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def parse_vmhwm(status):
    """VmHWM of a /proc/<pid>/status text in MiB, or None."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            words = line[len("VmHWM:"):].split()
            if len(words) == 2 and words[1] == "kB":
                try:
                    return int(words[0]) / 1024.0
                except ValueError:
                    return None
            return None
    return None


def peak_rss_mib():
    """The peak RSS since the last reset_peak_rss(), in MiB (None without /proc)."""
    try:
        with open("/proc/self/status") as f:
            return parse_vmhwm(f.read())
    except OSError:
        return None


def with_peak_rss(bench):
    """`bench` (the anchor's timing function, returning a record dict) with
    the peak RSS of the call, warm-up included, added as `peak_rss_mib`."""

    @functools.wraps(bench)
    def wrapped(*args, **kwargs):
        reset_peak_rss()
        record = bench(*args, **kwargs)
        record["peak_rss_mib"] = peak_rss_mib()
        return record

    return wrapped


def load_anchor(path):
    """The anchor as a module (its main() is not run), `bench` wrapped."""
    spec = importlib.util.spec_from_file_location("torch_anchor", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"error: --anchor {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except FileNotFoundError:
        raise SystemExit(f"error: --anchor {path}: no such file")
    if not callable(getattr(module, "bench", None)) or not callable(getattr(module, "main", None)):
        raise SystemExit(f"error: --anchor {path}: has no bench() and main()")
    module.bench = with_peak_rss(module.bench)
    return module


class OneLineParser(argparse.ArgumentParser):
    """Bad input is one line naming the argument (as sc-bench's errors), no usage dump."""

    def error(self, message):
        self.exit(2, f"error: {message}\n")


def main():
    p = OneLineParser(
        description=__doc__.split("\n\n")[0],
        usage="%(prog)s --anchor PATH [anchor arguments...]",
    )
    p.add_argument("--anchor", required=True, help="the anchor script (torch_anchor.py)")
    args, rest = p.parse_known_args()
    anchor = load_anchor(args.anchor)
    sys.argv = [args.anchor] + rest
    anchor.main()


if __name__ == "__main__":
    main()
