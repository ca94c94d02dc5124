"""What the benchmark scripts share: timing peers in turn, and writing the record."""

import statistics
import time


def interleaved_medians(cases, repeats, number, warmup=1):
    """Median milliseconds per call of each case. The cases take turns within every repeat,
    so load that comes and goes on a shared machine hits all of them alike."""
    for case in cases.values():  # warm up allocators, thread pools, optimizer state
        for _ in range(warmup):
            case()
    samples = {key: [] for key in cases}
    for _ in range(repeats):
        for key, case in cases.items():
            start = time.perf_counter()
            for _ in range(number):
                case()
            samples[key].append((time.perf_counter() - start) / number * 1e3)
    return {key: statistics.median(values) for key, values in samples.items()}


def blas_threads():
    """NumPy's OpenBLAS thread count in this process (None for another BLAS)."""
    from minigan import tuning

    return tuning.get_blas_threads()


def publish(lines, out=None):
    """Print the record and, with ``out``, append it to that results file."""
    report = "\n".join(lines) + "\n"
    print(report)
    if out:
        with open(out, "a") as handle:
            handle.write(report + "\n")
