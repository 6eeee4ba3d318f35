#!/usr/bin/python3
"""Sums the results of every test suite into one line, `N passed, N failed`
(plus `, N skipped`), counting individual test cases:

- unit: cmocka's "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)" lines
  in meson's test log (a unit binary that crashed before printing counts
  as one failure);
- system: pytest's JUnit XML;
- fuzz: the bounded fuzz run's verdict in fuzz-result.txt, if it ran.

Usage: test_summary.py BUILD_DIR
Exit status: 0 if nothing failed, 1 otherwise.
"""

import json
import os
import re
import sys
import xml.etree.ElementTree as ET


def unit_counts(build):
    passed = failed = 0
    log = os.path.join(build, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        return 0, 1
    with open(log) as f:
        for line in f:
            t = json.loads(line)
            out = t.get("stdout", "") + t.get("stderr", "")
            p = re.search(r"\[  PASSED  \] (\d+) test", out)
            x = re.search(r"\[  FAILED  \] (\d+) test", out)
            passed += int(p[1]) if p else 0
            failed += int(x[1]) if x else 0
            if t.get("result") != "OK" and not x:
                failed += 1
    return passed, failed


def system_counts(build):
    path = os.path.join(build, "system-junit.xml")
    if not os.path.exists(path):
        return 0, 1, 0
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return total - failed - skipped, failed, skipped


def fuzz_counts(build):
    """The bounded fuzz run, if one ran: one test that passed or failed."""
    path = os.path.join(build, "fuzz-result.txt")
    if not os.path.exists(path):
        return 0, 0
    with open(path) as f:
        return (1, 0) if f.read().strip() == "passed" else (0, 1)


def main():
    build = sys.argv[1]
    up, uf = unit_counts(build)
    sp, sf, ss = system_counts(build)
    fp, ff = fuzz_counts(build)
    print(f"unit: {up} passed, {uf} failed")
    print(f"system: {sp} passed, {sf} failed, {ss} skipped")
    if fp + ff:
        print(f"fuzz: {fp} passed, {ff} failed")
    print(f"{up + sp + fp} passed, {uf + sf + ff} failed, {ss} skipped")
    return 1 if uf + sf + ff else 0


if __name__ == "__main__":
    sys.exit(main())
