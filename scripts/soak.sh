#!/usr/bin/env bash
# The soak run: steady enqueue and processing (some failing jobs) on one long-lived jobs table.
#
#   scripts/soak.sh [minutes] [Soak options...]
#
# minutes defaults to 10 (may be fractional: 1.5). Without --url it starts an embedded PostgreSQL
# of its own; with --url JDBC_URL [--user U --password P] it uses schema pgqueue_soak there.
# Other options: --rate JOBS_PER_S (500), --fail-percent P (5), --concurrency N (20),
# --report-every SECONDS. Prints a line per interval and a plateau summary; see docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
if [ "$#" -gt 0 ]; then shift; fi

mvn -B -q install -DskipTests -Dmaven.javadoc.skip=true -pl pgqueue-bench -am
mvn -B -q dependency:build-classpath -pl pgqueue-bench -Dmdep.outputFile=target/soak.classpath
exec java -Xmx512m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
  -Dorg.slf4j.simpleLogger.log.io.github.pgqueue.JobRun=error \
  -cp "pgqueue-bench/target/classes:$(cat pgqueue-bench/target/soak.classpath)" \
  io.github.pgqueue.bench.Soak --minutes "$minutes" "$@"
