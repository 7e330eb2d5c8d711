#!/usr/bin/env bash
# One command for the benchmark: builds pgqueue, starts a dedicated PostgreSQL with the shared
# workload's settings (scripts/bench-postgres.sh; falls back to an embedded PostgreSQL when the
# machine has no PostgreSQL binaries), and runs the workload. Extra arguments go to the driver,
# e.g. scripts/bench.sh --repeats 3 --notify off. See pgqueue-bench's Bench javadoc for options.
set -euo pipefail
cd "$(dirname "$0")/.."
cpfile=$(mktemp)
trap 'rm -f "$cpfile"' EXIT
# Builds the benchmark and the modules it uses in this checkout, without installing anything
# into the local Maven repository: the class path names the modules' jars under target/. Every
# module of the reactor writes its class path to the file; pgqueue-bench, which depends on the
# others, is built last, so its class path is the one left. To a file, not stdout: Maven prints
# an ANSI colour reset before it even in batch mode.
mvn -B -q -pl pgqueue-bench -am package dependency:build-classpath -DskipTests -Dmaven.javadoc.skip=true \
  -Dmdep.outputFile="$cpfile" >/dev/null
cp=$(cat "$cpfile")
url_args=()
if url=$(scripts/bench-postgres.sh 2>/dev/null); then
  url_args=(--url "$url")
fi
java -Xmx1g -cp "pgqueue-bench/target/classes:$cp" io.github.pgqueue.bench.Bench "${url_args[@]}" "$@"
