#!/usr/bin/env bash
# Coverage-guided fuzzing of one target for a while, on the stable
# toolchain (no sanitizer, so no nightly):
#
#   scripts/fuzz.sh TARGET SECONDS [JOBS]
#   scripts/fuzz.sh list
#
# Targets (fuzz/fuzz_targets/): capture, address, echo, line_decoder,
# reassembly, pipeline. The corpus (fuzz/corpus/TARGET, not committed)
# is seeded from testdata/ on the first run; a crash is saved under
# fuzz/artifacts/TARGET/ (`cargo fuzz fmt -s none -O TARGET FILE` shows
# it): fix it and keep the input as a test beside the code it broke.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v portmortem-fuzz)
if [ "${1:-}" = list ] || [ $# -lt 2 ]; then
    echo "usage: scripts/fuzz.sh TARGET SECONDS [JOBS]; targets:" $targets
    exit 2
fi
target=$1 secs=$2 jobs=${3:-1}
corpus=corpus/$target
mkdir -p "$corpus"
if [ -z "$(ls -A "$corpus")" ]; then
    case $target in
    capture | pipeline)
        # Every testdata capture, and a truncated and a gzipped one.
        for f in ../testdata/*.pcap ../testdata/*.pcapng ../testdata/*.snoop ../testdata/*.bin; do
            cp "$f" "$corpus/"
        done
        ;;
    address | echo)
        printf 'PORT 198,51,100,60,125,227' >"$corpus/port"
        printf 'PORT 10,225,1,89,124,22_' >"$corpus/port-mangled"
        printf 'EPRT |2|2001:db8::1|5282|' >"$corpus/eprt6"
        printf 'EPRT |1|198.51.100.60|40001|' >"$corpus/eprt4"
        printf 'LPRT 6,16,32,1,13,184,187,187,0,0,0,0,0,0,0,0,0,1,2,156,66' >"$corpus/lprt6"
        printf '227 Entering Passive Mode (203,0,113,10,117,48).' >"$corpus/227"
        printf '228 Entering Long Passive Mode (4,4,203,0,113,10,2,117,49)' >"$corpus/228"
        printf '229 Entering Extended Passive Mode (|||30002|)' >"$corpus/229"
        printf "500 'PORT 198,51,100,60,125,22_': command not understood" >"$corpus/echo"
        printf "500 Command not understood 'PORT 10,225,1,89,124,22_'" >"$corpus/echo2"
        printf "550 a\`b: No such file or directory." >"$corpus/550"
        ;;
    *)
        # Structured targets start from random bytes.
        head -c 256 /dev/urandom >"$corpus/seed"
        ;;
    esac
fi
cargo fuzz build -s none -O "$target"
start=$(date +%s)
# -print_final_stats gives the executions and coverage for the record.
parallel=()
[ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
cargo fuzz run -s none -O "$target" "$corpus" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 "${parallel[@]}" \
    -print_final_stats=1 2>&1 | tee "/tmp/fuzz-$target.log" |
    grep -E '^(stat::|#[0-9]+ +DONE|==[0-9]+==|SUMMARY|.*(panicked|Crash|crash-))' || true
echo "fuzz.sh: $target ran $(($(date +%s) - start)) s; log in /tmp/fuzz-$target.log"
if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "fuzz.sh: crashes in fuzz/artifacts/$target/" >&2
    exit 1
fi
