#!/usr/bin/env bash
# Runs the README's two commands as a newcomer would: on a fresh clone of
# this repository (committed state, no build cache), with no ../shared
# beside it, and fails on an exit code the README does not announce.
#
#   scripts/newcomer.sh            # a fresh clone of HEAD in a temp dir
#   KEEP=1 scripts/newcomer.sh     # keep the clone afterwards
#
# The first command is the first ```sh block under "## The two commands";
# its announced exit code is the N of "It exits with code N" below it.
# The second is the next ```sh block (the tests), which must exit 0.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
# A parent of its own, so no ../shared is beside the clone.
git clone -q "$repo" "$work/portmortem"
cd "$work/portmortem"
section="$(sed -n '/^## The two commands/,/^## /p' README.md)"
mapfile -t cmds < <(printf '%s\n' "$section" | awk '/^```sh/{f=1;next} /^```/{f=0} f')
[ "${#cmds[@]}" -ge 2 ] || { echo "newcomer: README has no two commands" >&2; exit 1; }
announced="$(printf '%s\n' "$section" | sed -n 's/.*It exits with code \([0-9]\).*/\1/p' | head -1)"
announced="${announced:-0}"
run() {
    local want="$1" cmd="$2" start rc
    echo "newcomer: \$ $cmd   (README announces exit $want)"
    start=$(date +%s)
    set +e
    bash -c "$cmd"
    rc=$?
    set -e
    echo "newcomer: exit $rc after $(( $(date +%s) - start )) s"
    if [ "$rc" != "$want" ]; then
        echo "newcomer: FAILED: '$cmd' exited $rc, the README announces $want" >&2
        exit 1
    fi
}
run "$announced" "${cmds[0]}"
run 0 "${cmds[1]}"
echo "newcomer: both README commands behave as announced"
