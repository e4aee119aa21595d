#!/usr/bin/env bash
# Interrupts a study the way a user or a machine does and checks that a
# re-run finishes it without redoing finished stages and without torn files
# (issue 14): `cargo xtask reproduce --smoke` is stopped by SIGINT (Ctrl-C to
# its whole process group) once a few stages are done, re-run and stopped by
# SIGKILL at a later point, then re-run to the end.
#
# Checked after each stop and at the end: every stage file (*.json) parses,
# no temporary file (*.tmp) is left, and a stage file that existed before a
# re-run is neither rewritten (same modification time and bytes) nor run
# again (the re-run prints "skip:" for it).
#
# Usage: scripts/interrupt-check.sh [OUT]   (SC_BENCH=path picks the
# sc-bench binary; default: the release build, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/interrupt-check}
bin=${SC_BENCH:-target/release/sc-bench}
[ -x "$bin" ] || cargo build --release --bin sc-bench
cargo build -q -p xtask
rm -rf "$out"
mkdir -p "$out"
log=$(mktemp -d)

stage_files() { find "$out" -maxdepth 1 -name '*.json' ! -name study.json ! -name timings.json | sort; }

check_files() {
    local what=$1
    if find "$out" -name '*.tmp' | grep -q .; then
        echo "FAIL ($what): temporary files left: $(find "$out" -name '*.tmp')"
        exit 1
    fi
    for f in $(stage_files) "$out/timings.json"; do
        [ -e "$f" ] || continue
        python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$f" \
            || { echo "FAIL ($what): $f is not JSON"; exit 1; }
    done
    echo "ok ($what): $(stage_files | wc -l) stage files, all JSON, no temporary file"
}

# Job control: each background job gets its own process group (what a
# terminal's Ctrl-C signals) and keeps SIGINT's default action (without it,
# bash starts background jobs with SIGINT ignored).
set -m

# Starts the study in its own process group; stops it with signal $1 once
# $2 stage files exist.
run_and_stop() {
    local signal=$1 after=$2 name=$3
    cargo xtask reproduce --smoke --sc-bench "$bin" --out "$out" \
        >"$log/$name.out" 2>"$log/$name.err" &
    local pid=$!
    while [ "$(stage_files | wc -l)" -lt "$after" ]; do
        kill -0 "$pid" 2>/dev/null || { echo "FAIL: the study ended before $after stages"; exit 1; }
        sleep 0.2
    done
    # Mid-stage: give the next stage a moment to start writing.
    sleep 1.5
    kill "-$signal" -- "-$pid"
    local status=0
    wait "$pid" || status=$?
    [ "$status" -ne 0 ] || { echo "FAIL: the study was not stopped by SIG$signal"; exit 1; }
    echo "stopped by SIG$signal (exit status $status) after $(stage_files | wc -l) stage files"
}

snapshot() { for f in $(stage_files); do echo "$f $(stat -c %Y.%s "$f") $(sha256sum <"$f")"; done; }

run_and_stop INT 5 first
check_files "after SIGINT"
before_kill=$(snapshot)
run_and_stop KILL 14 second
check_files "after SIGKILL"
[ "$(snapshot | grep -cFf <(echo "$before_kill"))" -eq "$(echo "$before_kill" | wc -l)" ] \
    || { echo "FAIL: a stage finished before the SIGKILL run was rewritten"; exit 1; }

done_before=$(stage_files)
before_final=$(snapshot)
cargo xtask reproduce --smoke --sc-bench "$bin" --out "$out" >"$log/final.out" 2>"$log/final.err"
check_files "after the final run"
for f in $done_before; do
    grep -qF "skip: $(realpath "$f")" "$log/final.err" || grep -qF "skip: $f" "$log/final.err" \
        || { echo "FAIL: $f was run again"; exit 1; }
done
[ "$(snapshot | grep -cFf <(echo "$before_final"))" -eq "$(echo "$before_final" | wc -l)" ] \
    || { echo "FAIL: a finished stage file was rewritten"; exit 1; }
test -s "$out/REPORT.md" && test -s "$out/report.html"
echo "ok: the re-run skipped all $(echo "$done_before" | wc -l) finished stages, rewrote none, and rendered $out/REPORT.md"
rm -rf "$log"
