#!/usr/bin/env python3
"""Checks the locking rules with clang's thread-safety analysis.

    check-thread-safety.py CLANG COMPILE_COMMANDS SOURCE_DIR
        compiles every product source (core/, host/, api/, backends/, cli/;
        not tests, plugins or generated code) with CLANG -fsyntax-only
        -Wthread-safety -Werror=thread-safety and the flags the build uses;
        fails if any file has a finding, and prints each.
    check-thread-safety.py CLANG COMPILE_COMMANDS SOURCE_DIR --expect-violation FILE
        the self-test: FILE must fail with a -Wthread-safety finding, which
        shows the check above can fail at all.

The annotations are in core/include/dtq/core/thread_annotations.hpp. The
project builds with GCC, so the flags come from its compile_commands.json,
less what clang does not know; -fsyntax-only keeps it to a parse.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

PRODUCT_FOLDERS = ("core/", "host/", "api/", "backends/", "cli/")
# -Werror=thread-safety, not -Werror: clang's other warnings (one on libbson's
# aligned types, for one) are not this check's business; the GCC build
# judges warnings.
CHECK_FLAGS = ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety"]
# Sources clang 14 cannot parse at all, each with why. Each holds no lock;
# one that takes a lock must be made parseable instead of listed here.
UNPARSABLE = {
    # std::views::reverse over libstdc++ 12 trips clang before 16
    # (llvm/llvm-project#52696).
    "cli/src/top/top_model.cpp": "std::views::reverse, llvm/llvm-project#52696",
}


def command_of(entry):
    if "arguments" in entry:
        return list(entry["arguments"])
    return shlex.split(entry["command"])


def clang_flags(entry):
    """The entry's include paths, defines and language flags, which is all a
    parse needs: warnings, optimisation and output options are left out so
    that only the thread-safety analysis can fail the check."""
    args = command_of(entry)[1:]
    flags = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-I", "-isystem", "-D", "-include", "-iquote"):
            flags += [arg, args[i + 1]]
            i += 2
            continue
        if arg in ("-o", "-c", "-MF", "-MT", "-MQ"):
            i += 2
            continue
        if arg.startswith(("-I", "-D", "-std=")) or arg == "-pthread":
            flags.append(arg)
        i += 1
    return flags


def compile_one(clang, entry, source):
    command = [clang, *clang_flags(entry), *CHECK_FLAGS, source]
    result = subprocess.run(command, cwd=entry["directory"], capture_output=True, text=True)
    return result.returncode, result.stdout + result.stderr


def product_entries(entries, source_dir):
    chosen = []
    for entry in entries:
        path = os.path.relpath(os.path.join(entry["directory"], entry["file"]), source_dir)
        if path.startswith(PRODUCT_FOLDERS) and path not in UNPARSABLE:
            chosen.append((path, entry))
    return sorted(chosen, key=lambda pair: pair[0])


def check_all(clang, entries, source_dir):
    chosen = product_entries(entries, source_dir)
    if not chosen:
        print("check-thread-safety: no product source in compile_commands.json")
        return 1
    jobs = max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = pool.map(
            lambda pair: compile_one(clang, pair[1], os.path.join(source_dir, pair[0])), chosen
        )
        failed = [(path, out) for (path, _), (code, out) in zip(chosen, results) if code != 0]
    for path, output in failed:
        if "-Wthread-safety" not in output:
            output += "(not a locking finding: clang could not parse this source)\n"
        print(f"--- {path}\n{output}")
    print(
        f"check-thread-safety: {len(chosen) - len(failed)} of {len(chosen)} sources clean; "
        f"{len(UNPARSABLE)} skipped as unparsable by clang 14"
    )
    return 1 if failed else 0


def expect_violation(clang, entries, source_dir, fixture):
    # The fixture borrows the flags of a core source: it needs only the
    # core include path.
    donor = next(entry for path, entry in product_entries(entries, source_dir) if path.startswith("core/src/"))
    code, output = compile_one(clang, donor, os.path.abspath(fixture))
    if code != 0 and "-Wthread-safety" in output:
        print(f"check-thread-safety: the fixture fails as it should\n{output}")
        return 0
    print(f"check-thread-safety: expected a -Wthread-safety error from {fixture}, got exit {code}\n{output}")
    return 1


def main(argv):
    if len(argv) not in (4, 6) or (len(argv) == 6 and argv[4] != "--expect-violation"):
        print(__doc__)
        return 2
    clang, compile_commands, source_dir = argv[1], argv[2], os.path.abspath(argv[3])
    if shutil.which(clang) is None:
        print(f"check-thread-safety: {clang} not found; scripts/install-deps.sh test installs it")
        return 1
    with open(compile_commands, encoding="utf-8") as file:
        entries = json.load(file)
    if len(argv) == 6:
        return expect_violation(clang, entries, source_dir, argv[5])
    return check_all(clang, entries, source_dir)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
