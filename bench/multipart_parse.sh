#!/bin/sh
# multipart_parse.sh [MB [RUNS]] — server/multipart.c vs libmicrohttpd's MHD_PostProcessor on one
# MB-megabyte multipart upload per run, fed the chunks a live MHD daemon delivers (see
# multipart_parse.c). Not part of CI.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Icore -Iserver -Ibench -o build/bench/multipart_parse \
    bench/multipart_parse.c server/multipart.c core/mlp.c -lmicrohttpd -lcurl
echo "== load: $(cat /proc/loadavg)"
./build/bench/multipart_parse "${1:-50}" "${2:-5}"
