# shellcheck shell=bash
# Apache Kafka for the event-bus tests: a real single-node Kafka 4.x in KRaft mode (one process
# that is both broker and controller), run straight from the Maven Central jars of
# org.apache.kafka:kafka_2.13 — no release tarball, no Docker. Needs Java 17+, Maven and python3.
# The jars are resolved once into $STAGEBUS_CACHE_DIR/kafka-<version>/deps; the broker's data,
# config, pid, port and log live in $STAGEBUS_SERVICES_DIR/kafka and are discarded on stop.
# Listens on 127.0.0.1 only. Exports PLATFORM_TEST_KAFKA_BROKERS and PLATFORM_TEST_KAFKA_VERSION.
# When PLATFORM_TEST_KAFKA_BROKERS is already set (and no broker of ours is recorded), that
# cluster is used instead. STAGEBUS_KAFKA_VERSION picks another 4.x release.
#
# scripts/kafka/broker pause|resume sources this file to stop and restart the SAME broker (same
# port, same data, no re-format), for tests of resuming from committed offsets and of outages.
#
# Functions here use the dispatcher's `log` and `free_port` (scripts/kafka/broker defines `log`).

kafka_home=$(cd "$(dirname "${BASH_SOURCE[0]}")/../kafka" && pwd)

kafka_dir() { echo "$STAGEBUS_SERVICES_DIR/kafka"; }
kafka_version() { echo "${STAGEBUS_KAFKA_VERSION:-4.1.2}"; }
kafka_java() { if [[ -n ${JAVA_HOME:-} ]]; then echo "$JAVA_HOME/bin/java"; else echo java; fi; }

# The broker's JVM: the heap the tests need and the GC settings of Kafka's own start scripts.
kafka_jvm_opts=(-Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true)

# kafka_probe PORT [SECONDS] — true when a Kafka broker on 127.0.0.1:PORT answers a Metadata
# request and reports itself live (registered and unfenced) with a controller elected.
kafka_probe() { python3 "$kafka_home/kwire.py" probe "127.0.0.1:$1" "${2:-1.5}" >/dev/null 2>&1; }

# kafka_pid DIR prints the recorded broker pid when that process is still our broker.
kafka_pid() {
  local pid state
  [[ -s $1/pid ]] || return 1
  pid=$(<"$1/pid")
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $state != Z ]] || return 1
  [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *" kafka.Kafka "* ]] || return 1
  echo "$pid"
}

kafka_external() { [[ -n ${PLATFORM_TEST_KAFKA_BROKERS:-} && ! -f $(kafka_dir)/port ]]; }

kafka_running() {
  local dir; dir=$(kafka_dir)
  [[ -f $dir/port ]] && kafka_pid "$dir" >/dev/null && kafka_probe "$(<"$dir/port")" 1.5
}

# kcat is what the tests use for interop checks; install Debian's package when we may.
kafka_ensure_kcat() {
  command -v kcat >/dev/null && return 0
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    log "kafka: kcat is missing (Debian package kcat); interop checks will skip"
    return 0
  fi
  log "kafka: installing Debian's kcat package"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q kcat >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q kcat >&2; } ||
    log "kafka: could not install kcat; going on without it"
  return 0
}

# kafka_mvn DIR ARGS... runs Maven quietly in DIR; on failure prints its output (Debian's
# Maven 3.8 writes stray colour resets even with -B, so they are stripped).
kafka_mvn() {
  local dir=$1; shift
  if (cd "$dir" && mvn -B -q "$@") >"$dir/mvn.log" 2>&1; then return 0; fi
  sed 's/\x1b\[[0-9;]*m//g' "$dir/mvn.log" >&2
  return 1
}

# kafka_jars VERSION prints the directory holding the broker's classpath, resolving it with
# Maven on first use: kafka_2.13's runtime dependencies plus the SLF4J→log4j2 binding that
# matches the resolved slf4j-api (1.x: log4j-slf4j-impl, 2.x: log4j-slf4j2-impl) and log4j-core.
# The POM does not name a binding (only the release tarball ships one): without it the broker
# logs nothing at all.
kafka_jars() {
  local version=$1 cache tmp j log4j="" slf4j="" binding
  cache=$STAGEBUS_CACHE_DIR/kafka-$version
  if [[ -f $cache/deps/.complete ]]; then echo "$cache/deps"; return 0; fi
  command -v mvn >/dev/null || { echo "services: kafka: mvn (Maven) is needed to fetch the broker" >&2; return 1; }
  log "kafka: resolving org.apache.kafka:kafka_2.13:$version and its runtime dependencies into $cache"
  mkdir -p "$cache"
  cp "$kafka_home/pom.xml" "$cache/pom.xml"
  tmp=$cache/deps.tmp.$$
  rm -rf "$tmp"
  if ! kafka_mvn "$cache" -Dkafka.version="$version" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp"; then
    echo "services: kafka: Maven could not resolve org.apache.kafka:kafka_2.13:$version" >&2
    rm -rf "$tmp"; return 1
  fi
  for j in "$tmp"/log4j-core-*.jar; do
    if [[ -f $j ]]; then log4j=${j##*/log4j-core-}; log4j=${log4j%.jar}; fi
  done
  for j in "$tmp"/slf4j-api-*.jar; do
    if [[ -f $j ]]; then slf4j=${j##*/slf4j-api-}; slf4j=${slf4j%.jar}; fi
  done
  if [[ -z $log4j || -z $slf4j ]]; then
    echo "services: kafka: no log4j-core or slf4j-api among kafka_2.13:$version's dependencies" >&2
    rm -rf "$tmp"; return 1
  fi
  if [[ $slf4j == 1.* ]]; then binding="log4j-slf4j-impl"; else binding="log4j-slf4j2-impl"; fi
  log "kafka: adding org.apache.logging.log4j:$binding:$log4j (slf4j-api $slf4j)"
  if ! kafka_mvn "$cache" dependency:copy -Dartifact="org.apache.logging.log4j:$binding:$log4j" \
    -DoutputDirectory="$tmp"; then
    echo "services: kafka: Maven could not resolve org.apache.logging.log4j:$binding:$log4j" >&2
    rm -rf "$tmp"; return 1
  fi
  touch "$tmp/.complete"
  rm -rf "$cache/deps"
  mv "$tmp" "$cache/deps"
  echo "$cache/deps"
}

# kafka_write_config DIR PORT CONTROLLER_PORT
kafka_write_config() {
  local dir=$1 port=$2 cport=$3
  cat >"$dir/server.properties" <<EOF
# Written by scripts/services.d/kafka.sh: a throwaway single-node KRaft cluster for tests.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data

# Off on purpose: the code under test creates its topics itself (with their partition count),
# so a producer or consumer naming a topic nobody created must fail, not invent it.
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=1
min.insync.replicas=1

# One node: every internal topic has one replica and needs one in sync.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Fast tests: no 3 s wait before the first rebalance, one partition to load for the group
# coordinator, and clients may pick session timeouts down to 1 s for crash tests.
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
group.min.session.timeout.ms=1000

# Bounded disk: every test and benchmark run writes fresh topics (a run of make bench writes a
# few GB), and nothing reads them after the run; segments of 64 MB are deleted 15 minutes
# after they were written, and no partition keeps more than 2 GB.
log.segment.bytes=67108864
log.retention.ms=900000
log.retention.bytes=2147483648
log.retention.check.interval.ms=60000
EOF
}

# kafka_tool DIR ARGS... runs kafka.tools.StorageTool on the recorded classpath.
kafka_tool() {
  local dir=$1; shift
  "$(kafka_java)" -Xmx256m -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -Dstagebus.kafka.loglevel=WARN -cp "$(<"$dir/deps")/*" kafka.tools.StorageTool "$@"
}

# kafka_launch DIR starts the broker configured in DIR in the background, in its own session
# (so that the caller's process group, Ctrl-C or terminal going away does not take it down),
# appending to DIR/broker.log, and records its pid in DIR/pid.
kafka_launch() {
  local dir=$1 java deps i launcher=()
  java=$(kafka_java); deps=$(<"$dir/deps")
  rm -f "$dir/pid"
  command -v setsid >/dev/null && launcher=(setsid)
  echo "=== $(date '+%F %T') starting kafka.Kafka" >>"$dir/broker.log"
  # The inner shell writes its own pid and execs java, so the pid is the JVM's whether or not
  # setsid had to fork.
  # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
  "${launcher[@]}" bash -c 'echo $$ >"$0"; exec "$@"' "$dir/pid" \
    "$java" "${kafka_jvm_opts[@]}" -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$deps/*" kafka.Kafka "$dir/server.properties" >>"$dir/broker.log" 2>&1 </dev/null &
  for ((i = 0; i < 100; i++)); do
    kafka_pid "$dir" >/dev/null && return 0
    sleep 0.1
  done
  echo "services: kafka: the broker process did not start" >&2
  tail -n 40 "$dir/broker.log" >&2
  return 1
}

# kafka_wait_ready DIR PORT SECONDS — true once the broker answers Kafka requests; on failure
# (process gone or timeout) prints the tail of its log.
kafka_wait_ready() {
  local dir=$1 port=$2 deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    if ! kafka_pid "$dir" >/dev/null; then
      echo "services: kafka: the broker exited; the end of $dir/broker.log:" >&2
      tail -n 60 "$dir/broker.log" >&2
      return 1
    fi
    kafka_probe "$port" 1.5 && return 0
    sleep 0.3
  done
  echo "services: kafka: no answer on 127.0.0.1:$port within $3 s; the end of $dir/broker.log:" >&2
  tail -n 60 "$dir/broker.log" >&2
  return 1
}

# kafka_halt DIR stops the broker recorded in DIR (SIGTERM, up to 30 s for a clean shutdown,
# then SIGKILL) and keeps its data.
kafka_halt() {
  local dir=$1 pid i
  pid=$(kafka_pid "$dir") || { rm -f "$dir/pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kafka_pid "$dir" >/dev/null || { rm -f "$dir/pid"; return 0; }
    sleep 0.2
  done
  log "kafka: no clean shutdown within 30 s; killing pid $pid"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kafka_pid "$dir" >/dev/null || break
    sleep 0.1
  done
  rm -f "$dir/pid"
}

kafka_start() {
  local dir version deps port cport cluster_id
  dir=$(kafka_dir); version=$(kafka_version)
  kafka_ensure_kcat
  deps=$(kafka_jars "$version") || return 1
  kafka_halt "$dir" # a broker of ours that stopped answering
  rm -rf "$dir"; mkdir -p "$dir/data"
  port=$(free_port); cport=$(free_port)
  while [[ $cport == "$port" ]]; do cport=$(free_port); done
  echo "$deps" >"$dir/deps"
  echo "$version" >"$dir/version"
  cp "$kafka_home/log4j2.properties" "$dir/log4j2.properties"
  kafka_write_config "$dir" "$port" "$cport"
  cluster_id=$(kafka_tool "$dir" random-uuid | tail -n 1) || true
  if [[ ! $cluster_id =~ ^[A-Za-z0-9_-]{22}$ ]]; then
    echo "services: kafka: StorageTool random-uuid printed '$cluster_id'" >&2
    return 1
  fi
  echo "$cluster_id" >"$dir/cluster.id"
  kafka_tool "$dir" format --standalone -t "$cluster_id" -c "$dir/server.properties" \
    >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; return 1; }
  kafka_launch "$dir" || { kafka_halt "$dir"; return 1; }
  kafka_wait_ready "$dir" "$port" 90 || { kafka_halt "$dir"; return 1; }
  echo "$port" >"$dir/port"
}

kafka_stop() {
  local dir; dir=$(kafka_dir)
  kafka_halt "$dir"
  rm -rf "$dir"
}

kafka_env() {
  local dir; dir=$(kafka_dir)
  if kafka_external; then
    echo "export PLATFORM_TEST_KAFKA_BROKERS='$PLATFORM_TEST_KAFKA_BROKERS'"
    [[ -z ${PLATFORM_TEST_KAFKA_VERSION:-} ]] ||
      echo "export PLATFORM_TEST_KAFKA_VERSION='$PLATFORM_TEST_KAFKA_VERSION'"
  else
    echo "export PLATFORM_TEST_KAFKA_BROKERS='127.0.0.1:$(<"$dir/port")'"
    echo "export PLATFORM_TEST_KAFKA_VERSION='$(<"$dir/version")'"
  fi
}

# kafka_pause stops our broker and keeps its data, port and config (scripts/kafka/broker pause).
kafka_pause() {
  local dir; dir=$(kafka_dir)
  [[ -f $dir/port ]] || { echo "kafka: no broker of ours recorded in $dir" >&2; return 1; }
  if ! kafka_pid "$dir" >/dev/null; then log "kafka: already stopped"; return 0; fi
  kafka_halt "$dir"
  log "kafka: stopped; data and port 127.0.0.1:$(<"$dir/port") kept"
}

# kafka_resume starts the paused broker again on the same port and log.dirs, without
# re-formatting, and waits until it answers (scripts/kafka/broker resume).
kafka_resume() {
  local dir port; dir=$(kafka_dir)
  [[ -f $dir/port && -f $dir/server.properties ]] ||
    { echo "kafka: no broker of ours recorded in $dir" >&2; return 1; }
  port=$(<"$dir/port")
  if kafka_pid "$dir" >/dev/null; then
    kafka_wait_ready "$dir" "$port" 90 || return 1
    log "kafka: already running on 127.0.0.1:$port"
    return 0
  fi
  kafka_launch "$dir" || { kafka_halt "$dir"; return 1; }
  kafka_wait_ready "$dir" "$port" 90 || { kafka_halt "$dir"; return 1; }
  log "kafka: running again on 127.0.0.1:$port"
}
