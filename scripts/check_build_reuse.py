#!/usr/bin/env python3
"""Checks that the README's `cargo run -p model_creation` and `cargo run -p model_serving`,
run after `cargo test --workspace --all-features` (the README's test command), compile no
dependency again: they must reuse the test build, burn included (workspace_hack's job).

Run it after the tests with the same CARGO_TARGET_DIR. It builds each package in the dev
profile, reads cargo's JSON messages and stops at the first dependency that cargo compiles
instead of reusing, so a stale workspace_hack fails in seconds, not after a 17-minute burn build.
Exit status 1 names the dependencies and says how to regenerate workspace_hack.

`--tree` checks the same thing without building, from `cargo tree`'s resolved features (a second):
use it before pushing when your target directory already holds every build, where the build
check would pass whatever workspace_hack says.
"""

import json
import subprocess
import sys

# model_serving keeps a single-threaded matrixmultiply (see .config/hakari.toml), so its build
# compiles that crate alone, in seconds.
ALLOWED = {"model_serving": {"matrixmultiply"}}


def allowed(package):
    """The crates `package`'s build may compile again, spelled with dashes."""
    return {a.replace("_", "-") for a in ALLOWED.get(package, ())}


def rebuilt_dependencies(package):
    """Names of registry crates `cargo build -p package` compiled, stopping at the first one."""
    cmd = ["cargo", "build", "-p", package, "--message-format=json-render-diagnostics"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    rebuilt = []
    for line in proc.stdout:
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") != "compiler-artifact" or msg.get("fresh", True):
            continue
        package_id = msg["package_id"]
        if package_id.startswith("path+"):
            continue  # workspace crates are expected to build
        name = msg["target"]["name"]
        if msg["target"]["kind"] == ["custom-build"]:
            name = package_id.split("#")[-1].split("@")[0]
        if name.replace("_", "-") in allowed(package):
            continue
        rebuilt.append(package_id.split("#")[-1])
        proc.kill()
        break
    status = proc.wait()
    if not rebuilt and status != 0:
        sys.exit(f"`{' '.join(cmd)}` failed with status {status}")
    return rebuilt


def resolved_features(args):
    """`name version|features` of every registry package `cargo tree args` resolves."""
    cmd = ["cargo", "tree", "--prefix", "none", "-f", "{p}|{f}", *args]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
    lines = set()
    for line in out.splitlines():
        line = line.replace(" (*)", "").replace(" (proc-macro)", "").strip()
        if line and "(/" not in line:  # workspace crates show their path
            lines.add(line)
    return lines


def differing_dependencies(package, test_build):
    """Registry packages whose features in `cargo build -p package` differ from the test build's."""
    own = resolved_features(["-p", package, "-e", "normal,build"])
    return sorted(
        line.split("|")[0]
        for line in own - test_build
        if line.split(" ")[0].replace("_", "-") not in allowed(package)
    )


def main():
    tree_only = "--tree" in sys.argv[1:]
    test_build = resolved_features(["--workspace", "--all-features"]) if tree_only else None
    failed = False
    for package in ("model_creation", "model_serving"):
        if tree_only:
            rebuilt = differing_dependencies(package, test_build)
        else:
            rebuilt = rebuilt_dependencies(package)
        if rebuilt:
            failed = True
            print(
                f"`cargo build -p {package}` {'would compile' if tree_only else 'compiled'} "
                f"{', '.join(rebuilt)} again instead of reusing "
                "the test build: workspace_hack is out of date.\n"
                "Regenerate it: `cargo install cargo-hakari --locked && cargo hakari generate`, then commit "
                "workspace_hack/Cargo.toml and Cargo.lock.",
                file=sys.stderr,
            )
        else:
            print(f"cargo build -p {package}: every dependency reused from the test build", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
