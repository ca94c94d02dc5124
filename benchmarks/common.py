"""What the benchmark scripts share: printing a markdown record and appending it to a
results file."""


def publish(lines, out=None):
    """Print the record and, with ``out``, append it to that results file."""
    report = "\n".join(lines) + "\n"
    print(report)
    if out:
        with open(out, "a") as handle:
            handle.write(report + "\n")
