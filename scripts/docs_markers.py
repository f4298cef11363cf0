"""Replaces what stands between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in a doc: how the
bench scripts put their tables into docs/ (scripts/bench_accuracy.sh, bench_input_sizes.sh)."""

import re
import sys


def replace(path: str, name: str, text: str) -> None:
    """Writes `text` between the NAME markers of `path`; exits naming the file without them."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    doc = open(path).read()
    if begin not in doc or end not in doc:
        sys.exit(f"{path} has no {begin} … {end} markers")
    doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: begin + "\n" + text + end, doc, flags=re.S)
    open(path, "w").write(doc)
