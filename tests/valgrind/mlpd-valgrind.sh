#!/bin/sh
# mlpd-valgrind.sh — runs build/mlpd under valgrind memcheck, for `make valgrind` (MLPD_BIN points
# here). Any memory error or definite/indirect leak makes the daemon exit 99, which the e2e
# tests see as a failed clean stop. Reports go to $MLPD_VALGRIND_LOG.<pid> (default under /tmp).
# Possible leaks are not errors: OpenBLAS and libmicrohttpd keep thread-pool memory until exit.
here=$(cd "$(dirname "$0")/../.." && pwd)
exec valgrind --quiet --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    --track-origins=no --log-file="${MLPD_VALGRIND_LOG:-/tmp/mlpd-valgrind}.%p" \
    "${MLPD_REAL_BIN:-$here/build/mlpd}" "$@"
