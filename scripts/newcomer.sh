#!/usr/bin/env bash
# Runs the README as a newcomer would: on a fresh clone of this
# repository (committed state, no build cache), with no ../shared beside
# it. First the two commands, failing on an exit code the README does not
# announce; then the install it documents (into a scratch root put first
# on PATH), and every command of its ```console blocks through a shell,
# in a scratch directory holding testdata, failing on an exit code other
# than the block's `? N` (the output itself is compared by `cargo test`).
#
#   scripts/newcomer.sh            # a fresh clone of HEAD in a temp dir
#   KEEP=1 scripts/newcomer.sh     # keep the clone afterwards
#
# The first command is the first ```sh block under "## The two commands";
# its announced exit code is the N of "It exits with code N" below it.
# The second is the next ```sh block (the tests), which must exit 0. The
# install is the first `cargo install` line under "## Install".
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

install="$(sed -n '/^## Install/,/^## /p' README.md | grep -m1 '^cargo install')"
install="${install%%#*}"
[ -n "$install" ] || { echo "newcomer: README's Install section has no cargo install" >&2; exit 1; }
# Into a scratch root, reusing the release build of the first command.
export CARGO_TARGET_DIR="$work/portmortem/target"
run 0 "$install --root '$work/root'"
unset CARGO_TARGET_DIR
export PATH="$work/root/bin:$PATH"
[ "$(command -v portmortem)" = "$work/root/bin/portmortem" ] || { echo "newcomer: portmortem is not on PATH after the install" >&2; exit 1; }

# Every console command: `$ ` lines with their `> ` continuations, and the
# `? N` that follows (0 when none).
scratch="$work/scratch"
mkdir -p "$scratch"
ln -s "$work/portmortem/testdata" "$scratch/testdata"
duckdb=0
python3 -c 'import duckdb' 2>/dev/null && duckdb=1
n=0
while IFS=$'\t' read -r want cmd; do
    if [[ "$cmd" == python3* && "$duckdb" == 0 ]]; then
        echo "newcomer: skipped (no DuckDB for Python): $cmd"
        continue
    fi
    (cd "$scratch" && run "$want" "$cmd")
    n=$((n + 1))
done < <(awk '
    /^```console/ { inblock = 1; next }
    inblock && /^```/ { if (cmd != "") print want "\t" cmd; cmd = ""; inblock = 0; next }
    inblock && /^\$ / { if (cmd != "") print want "\t" cmd; cmd = substr($0, 3); want = 0; next }
    inblock && /^> / { cmd = cmd " " substr($0, 3); next }
    inblock && /^\? [0-9]+$/ && cmd != "" { want = $2; next }
' README.md)
echo "newcomer: the install and all $n README console commands behave as announced"
