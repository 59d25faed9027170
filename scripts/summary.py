"""Print pytest's result counts as one plain line ("litellm-X: N passed, N failed, N skipped")
from its JUnit reports: LiteLLM's aiohttp sessions print warnings at interpreter exit that can
bury pytest's own closing line."""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(report: Path):
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return tests - failed - skipped, failed, skipped


def main(paths):
    total = [0, 0, 0]
    for path in map(Path, paths):
        if not path.exists():
            print(f"{path.name}: no report (pytest did not finish)")
            total[1] += 1
            continue
        passed, failed, skipped = counts(path)
        total = [total[0] + passed, total[1] + failed, total[2] + skipped]
        if len(paths) == 1:
            label = path.stem.replace("pytest-", "")
            print(f"{label}: {passed} passed, {failed} failed, {skipped} skipped")
    if len(paths) > 1:
        print(f"total: {total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
