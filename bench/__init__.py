"""Benchmarks of the function against the bare SDK: `python -m bench` (`make bench`).

Cold start, warm per-invocation overhead, peak memory and batch scaling, all against the
CAMS emulator on loopback, under the target runtime's interpreter, with only the code
package on the path. docs/performance.md has the findings and how to reproduce them.
"""
