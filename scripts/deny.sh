#!/usr/bin/env bash
# cargo-deny, offline: licences, bans (duplicates, wildcards), sources, and advisories against a
# local snapshot of the RustSec advisory DB. CI runs the same deny.toml against the live DB
# (`cargo-deny` job of .github/workflows/ci.yml); this script is for machines without GitHub access.
#
# Usage: scripts/deny.sh [CHECK...]      (default: licenses bans sources advisories)
#   ADVISORY_DB    plain copy (or git clone) of github.com/rustsec/advisory-db
#                  (default: ../shared/advisory-db next to the repository)
#   DENY_DB_ROOT   where the git copy cargo-deny reads is prepared (default: target/advisory-db)
#
# Needs cargo-deny 0.20.2: `cargo install cargo-deny --locked --version 0.20.2` (~10 min cold).
# cargo-deny opens the DB as a git repository at <db-path>/advisory-db-3157b0e258782691 (the
# directory name is derived from the DB's URL). The snapshot is plain files, so it is copied into
# a fresh git repository there (once per snapshot content; ~1 s), and a generated copy of
# deny.toml points `[advisories] db-path` at it. deny.toml itself names no machine paths.
# The snapshot is stale by construction: its advisories are a floor, not the complete list.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
deny_version=0.20.2
db_src=${ADVISORY_DB:-$repo/../shared/advisory-db}
db_root=${DENY_DB_ROOT:-$repo/target/advisory-db}
db_dir=$db_root/advisory-db-3157b0e258782691
started=$(date +%s)

if ! cargo deny --version >/dev/null 2>&1; then
  echo "deny.sh: cargo-deny is not installed." >&2
  echo "deny.sh: install it with: cargo install cargo-deny --locked --version $deny_version" >&2
  exit 2
fi
installed=$(cargo deny --version | awk '{print $2}')
if [ "$installed" != "$deny_version" ]; then
  echo "deny.sh: note: cargo-deny $installed found; this script was written against $deny_version" >&2
fi

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(licenses bans sources advisories)
needs_db=false
for c in "${checks[@]}"; do [ "$c" = advisories ] && needs_db=true; done

config=$repo/deny.toml
if $needs_db; then
  if [ ! -d "$db_src/crates" ]; then
    echo "deny.sh: no advisory DB snapshot at $db_src (expected its crates/ directory)." >&2
    echo "deny.sh: set ADVISORY_DB to a copy of https://github.com/rustsec/advisory-db," >&2
    echo "deny.sh: or run only the offline checks: scripts/deny.sh licenses bans sources" >&2
    exit 2
  fi
  command -v git >/dev/null || { echo "deny.sh: git is needed to prepare the advisory DB" >&2; exit 2; }
  # The snapshot's content hash decides whether the prepared copy is still current.
  stamp=$(cd "$db_src" && find . -path ./.git -prune -o -type f -print0 | LC_ALL=C sort -z |
    xargs -0 cksum | cksum | awk '{print $1}')
  if [ "$(cat "$db_root/.stamp" 2>/dev/null)" != "$stamp" ] || ! git -C "$db_dir" rev-parse -q --verify HEAD >/dev/null 2>&1; then
    echo "deny.sh: preparing a git copy of $db_src in $db_dir"
    rm -rf "$db_dir"
    mkdir -p "$db_dir"
    (cd "$db_src" && tar --exclude=./.git -cf - .) | (cd "$db_dir" && tar -xf -)
    git -C "$db_dir" init -q
    git -C "$db_dir" add -A
    # A fixed identity and date: the copy is a local cache, never pushed.
    GIT_AUTHOR_DATE=2000-01-01T00:00:00Z GIT_COMMITTER_DATE=2000-01-01T00:00:00Z \
      git -C "$db_dir" -c user.name=deny.sh -c user.email=deny.sh@localhost -c commit.gpgsign=false \
      commit -q -m "snapshot of $db_src"
    echo "$stamp" >"$db_root/.stamp"
  fi
  # deny.toml with `db-path` set, inserted as the first key of [advisories].
  config=$db_root/deny.toml
  case $db_root in *"'"*) echo "deny.sh: DENY_DB_ROOT must not contain a single quote" >&2; exit 2 ;; esac
  awk -v path="$db_root" '{ print } /^\[advisories\][[:space:]]*$/ { print "db-path = '\''" path "'\''" }' \
    "$repo/deny.toml" >"$config"
  grep -q '^db-path = ' "$config" || { echo "deny.sh: deny.toml has no [advisories] section" >&2; exit 2; }
fi

echo "deny.sh: cargo deny --offline check ${checks[*]} (config $config)"
status=0
cargo deny --offline --manifest-path "$repo/Cargo.toml" --config "$config" check --show-stats "${checks[@]}" || status=$?
echo "deny.sh: exit $status after $(($(date +%s) - started))s"
exit "$status"
