#!/bin/sh
# secretsd under valgrind memcheck, for SECRETSD_BIN (which cannot take
# arguments). `make check-valgrind` copies this file to
# $(BUILD)/secretsd-valgrind, next to the binary and its plugins (the
# integration tests look for plugins next to SECRETSD_BIN), and runs a short
# integration subset with it.
#
# Exit 99 when memcheck finds an error (invalid read or write, use of
# uninitialised memory, a bad free, a definite leak at exit): the tests then
# fail on the exit status. One log per process in SECRETSD_VALGRIND_LOGS.
# Extra valgrind options: VALGRIND_OPTS (read by valgrind itself), e.g.
# VALGRIND_OPTS=--track-origins=yes.
here=$(cd "$(dirname "$0")" && pwd)
exec valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --num-callers=30 \
	--suppressions="${SECRETSD_VALGRIND_SUPP:-$here/../tests/valgrind/secretsd.supp}" \
	--log-file="${SECRETSD_VALGRIND_LOGS:-/tmp}/secretsd.%p.log" \
	"${SECRETSD_VALGRIND_BIN:-$here/secretsd}" "$@"
