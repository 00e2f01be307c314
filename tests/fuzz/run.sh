#!/usr/bin/env bash
# run.sh — run the libFuzzer targets built by `make fuzz-build`.
#
#   bash tests/fuzz/run.sh smoke SECONDS NAME...   (make fuzz-smoke)
#   bash tests/fuzz/run.sh long  SECONDS NAME...   (make fuzz)
#
# For each NAME, in order:
#   1. replay every file of tests/fuzz/regressions/NAME/ once (a crash that
#      was found and fixed must stay fixed);
#   2. fuzz for SECONDS, starting from tests/fuzz/corpus/NAME/ copied to
#      build/fuzz/corpus-work/NAME/ (smoke: a fresh copy each time; long:
#      the work corpus is kept and grows from run to run). New inputs are
#      never written into the repository.
# Options of a target: tests/fuzz/NAME.options (libFuzzer flags, one line)
# and tests/fuzz/NAME.dict (a dictionary) when present. Crashes, leaks,
# timeouts and OOMs are saved as build/fuzz/artifacts/NAME/*; the log of
# each run is build/fuzz/logs/NAME.log. Exit status: 0 when every target ran
# clean, 1 otherwise (every target still runs).
set -u
mode=${1:?smoke or long}
secs=${2:?seconds}
shift 2

cd "$(dirname "$0")/../.."
B=build/fuzz
mkdir -p "$B/tmp" "$B/logs" "$B/artifacts" "$B/corpus-work"
export TMPDIR=$PWD/$B/tmp
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# the targets' own folders under TMPDIR are removed at exit; a crash leaves
# one behind
rm -rf "$B/tmp"/sdfuzz-* 2>/dev/null

failed=()
for t in "$@"; do
	bin=$B/bin/fuzz_$t
	opts=()
	[ -f "tests/fuzz/$t.options" ] && read -r -a opts < "tests/fuzz/$t.options"
	[ -f "tests/fuzz/$t.dict" ] && opts+=("-dict=tests/fuzz/$t.dict")
	art=$B/artifacts/$t/
	mkdir -p "$art"
	log=$B/logs/$t.log
	: > "$log"

	reg=(tests/fuzz/regressions/$t/*)
	if [ -e "${reg[0]}" ]; then
		echo "== fuzz $t: replaying ${#reg[@]} regression input(s)"
		if ! "$bin" "${opts[@]}" -runs=1 "${reg[@]}" >> "$log" 2>&1; then
			echo "!! fuzz $t: a regression input fails again (log: $log)"
			tail -n 60 "$log"
			failed+=("$t(regression)")
			continue
		fi
	fi

	work=$B/corpus-work/$t
	if [ "$mode" = smoke ]; then
		rm -rf "$work"
	fi
	mkdir -p "$work"
	cp -n tests/fuzz/corpus/$t/* "$work"/ 2>/dev/null
	echo "== fuzz $t: ${secs}s from $(ls "$work" | wc -l) input(s)"
	"$bin" "${opts[@]}" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$art" -print_final_stats=1 "$work" >> "$log" 2>&1
	rc=$?
	stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb):' "$log" |
		sed 's/^stat:://' | tr '\n' ' ')
	cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*')
	echo "   $cov $stats"
	if [ $rc -ne 0 ]; then
		echo "!! fuzz $t: exit $rc (log: $log, inputs: $art)"
		grep -nE 'ERROR: |FUZZ FINDING|runtime error|SUMMARY' "$log" | head -n 20
		tail -n 60 "$log"
		failed+=("$t")
	fi
done

if [ ${#failed[@]} -ne 0 ]; then
	echo "fuzz: FAILED: ${failed[*]}"
	exit 1
fi
echo "fuzz: all targets ran clean"
