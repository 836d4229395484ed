#!/usr/bin/env bash
# Local infrastructure without containers: Apache Kafka (KRaft, single node) and FerretDB
# (MongoDB wire protocol on SQLite), both on loopback; on demand a 3-node Kafka cluster.
#
#   deploy/local/infra.sh up [kafka|ferretdb|kafka-secure|kafka-cluster]     start (a second
#                                     start is a no-op; for the cluster, starts only the nodes
#                                     not running)
#   deploy/local/infra.sh down [kafka|ferretdb|kafka-secure|kafka-cluster]   stop what this
#                                     script started
#
# kafka-secure (not part of `up` without a component) is a second broker in secured mode:
# SASL/SCRAM-SHA-512 on LOCAL_KAFKA_SECURE_PORT (9094), StandardAuthorizer, one principal per
# service and the topics and ACLs of deploy/local/kafka/acls.txt; each principal's password
# is dev-only-<principal>-kafka-password (admin is the super user).
#   deploy/local/infra.sh status                  show what runs
#   deploy/local/infra.sh install                 resolve/build without starting
#
# Downloads and builds are cached under .local/cache and survive `make down`.
#
# LOCAL_KAFKA_JMX_PORT=9999 opens the single broker's JMX metrics on loopback (no auth; for
# bench/peer/KafkaRequests.java, which counts requests by type).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="$ROOT/.local"
CACHE="$LOCAL/cache"
RUN="$LOCAL/run"
LOGS="$LOCAL/logs"
DATA="$LOCAL/data"
HERE="$ROOT/deploy/local"

KAFKA_PORT="${LOCAL_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${LOCAL_KAFKA_CONTROLLER_PORT:-9093}"
MONGO_PORT="${LOCAL_MONGO_PORT:-27017}"
KAFKA_SECURE_PORT="${LOCAL_KAFKA_SECURE_PORT:-9094}"
KAFKA_SECURE_CONTROLLER_PORT="${LOCAL_KAFKA_SECURE_CONTROLLER_PORT:-9095}"
KAFKA_PRINCIPALS=(admin keyvault workspace agent-runner gateway engine)
KAFKA_HEAP="${LOCAL_KAFKA_HEAP:-512m}"
READY_TIMEOUT="${LOCAL_READY_TIMEOUT:-300}"
# kafka-cluster: 3 combined broker+controller nodes, brokers on BASE..BASE+2 and controllers on
# BASE+3..BASE+5 (replication factor 3, min.insync.replicas 2; the chaos suite kills nodes).
CLUSTER_BASE="${LOCAL_KAFKA_CLUSTER_PORT_BASE:-9192}"
# A second, private instance (own pid file, data and log) for tests that restart a broker.
INSTANCE="${LOCAL_INSTANCE:+-$LOCAL_INSTANCE}"
KAFKA="kafka$INSTANCE"
FERRETDB="ferretdb$INSTANCE"
KAFKA_SECURE="kafka-secure$INSTANCE"

mkdir -p "$CACHE" "$RUN" "$LOGS" "$DATA"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

alive() { # alive NAME -> 0 when the pid file names a live process
  local pidfile="$RUN/$1.pid"
  [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

fingerprint() { cat "$@" | sha256sum | cut -c1-16; }

# ---------------------------------------------------------------- Kafka
kafka_install() {
  local fp lib
  fp="$(fingerprint "$HERE/kafka/pom.xml")"
  lib="$CACHE/kafka-$fp"
  if [[ ! -f "$lib/.complete" ]]; then
    command -v mvn >/dev/null || die "Maven (mvn) is needed to resolve the Kafka broker"
    command -v java >/dev/null || die "Java 17+ is needed to run the Kafka broker"
    log "resolving the Kafka broker from Maven Central into $lib"
    rm -rf "$lib"
    mvn -B -q -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$lib" >"$LOGS/kafka-install.log" 2>&1 \
      || die "Maven could not resolve the Kafka broker; see $LOGS/kafka-install.log"
    touch "$lib/.complete"
  fi
  echo "$lib"
}

kafka_up() {
  if alive "$KAFKA"; then log "kafka already running (pid $(cat "$RUN/$KAFKA.pid"))"; return; fi
  if port_open "$KAFKA_PORT"; then
    log "something already listens on 127.0.0.1:$KAFKA_PORT; using it (not started here)"
    return
  fi
  local lib props datadir
  lib="$(kafka_install)"
  datadir="$DATA/$KAFKA"
  props="$DATA/$KAFKA-server.properties"
  mkdir -p "$datadir"
  sed -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
      -e "s#@DATA_DIR@#$datadir#g" "$HERE/kafka/server.properties.in" >"$props"
  local jopts=(-Xms256m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true
               "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.xml")
  local run_opts=()
  if [[ -n "${LOCAL_KAFKA_JMX_PORT:-}" ]]; then  # the broker's metrics for a local JMX client (bench)
    run_opts=(-Dcom.sun.management.jmxremote "-Dcom.sun.management.jmxremote.port=$LOCAL_KAFKA_JMX_PORT"
              -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false
              -Djava.rmi.server.hostname=127.0.0.1 -Dcom.sun.management.jmxremote.host=127.0.0.1)
  fi
  if [[ ! -f "$datadir/meta.properties" ]]; then
    log "formatting Kafka storage in $datadir"
    java "${jopts[@]}" -cp "$lib/*" kafka.tools.StorageTool format \
      -t "flowtrux-local-cluster0" -c "$props" --ignore-formatted >>"$LOGS/$KAFKA.log" 2>&1 \
      || die "formatting Kafka storage failed; see $LOGS/$KAFKA.log"
  fi
  log "starting Kafka on 127.0.0.1:$KAFKA_PORT (log: $LOGS/$KAFKA.log)"
  local from=$(( $(wc -l <"$LOGS/$KAFKA.log" 2>/dev/null || echo 0) + 1 ))
  nohup java "${jopts[@]}" "${run_opts[@]}" -cp "$lib/*" kafka.Kafka "$props" >>"$LOGS/$KAFKA.log" 2>&1 &
  echo $! >"$RUN/$KAFKA.pid"
  local waited=0
  until port_open "$KAFKA_PORT" && tail -n "+$from" "$LOGS/$KAFKA.log" | grep -q "Kafka Server started"; do
    alive "$KAFKA" || die "Kafka exited during start; see $LOGS/$KAFKA.log"
    (( waited++ >= READY_TIMEOUT )) && die "Kafka not ready after ${READY_TIMEOUT}s; see $LOGS/$KAFKA.log"
    sleep 1
  done
  log "kafka ready after ${waited}s"
}

kafka_password() { echo "dev-only-$1-kafka-password"; }

kafka_secure_up() {
  if alive "$KAFKA_SECURE"; then log "$KAFKA_SECURE already running (pid $(cat "$RUN/$KAFKA_SECURE.pid"))"; return; fi
  port_open "$KAFKA_SECURE_PORT" && die "something already listens on 127.0.0.1:$KAFKA_SECURE_PORT"
  local lib datadir props from waited=0 scram=()
  lib="$(kafka_install)"
  datadir="$DATA/$KAFKA_SECURE"
  props="$DATA/$KAFKA_SECURE-server.properties"
  sed -e "s#@PORT@#$KAFKA_SECURE_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_SECURE_CONTROLLER_PORT#g" \
      -e "s#@DATA_DIR@#$datadir#g" -e "s#@ADMIN_PASSWORD@#$(kafka_password admin)#g" \
      "$HERE/kafka/server-secure.properties.in" >"$props"
  local jopts=(-Xms128m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true
               "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.xml")
  if [[ ! -f "$datadir/meta.properties" ]]; then
    # KRaft keeps SCRAM credentials in its metadata log: they are added when formatting.
    for principal in "${KAFKA_PRINCIPALS[@]}"; do
      scram+=(--add-scram "SCRAM-SHA-512=[name=$principal,password=$(kafka_password "$principal")]")
    done
    java "${jopts[@]}" -cp "$lib/*" kafka.tools.StorageTool format \
      -t "flowtrux-local-secure0" -c "$props" --ignore-formatted "${scram[@]}" \
      >>"$LOGS/$KAFKA_SECURE.log" 2>&1 || die "formatting Kafka storage failed; see $LOGS/$KAFKA_SECURE.log"
  fi
  log "starting secured Kafka (SASL/SCRAM, ACLs) on 127.0.0.1:$KAFKA_SECURE_PORT (log: $LOGS/$KAFKA_SECURE.log)"
  from=$(( $(wc -l <"$LOGS/$KAFKA_SECURE.log" 2>/dev/null || echo 0) + 1 ))
  nohup java "${jopts[@]}" -cp "$lib/*" kafka.Kafka "$props" >>"$LOGS/$KAFKA_SECURE.log" 2>&1 &
  echo $! >"$RUN/$KAFKA_SECURE.pid"
  until port_open "$KAFKA_SECURE_PORT" && tail -n "+$from" "$LOGS/$KAFKA_SECURE.log" | grep -q "Kafka Server started"; do
    alive "$KAFKA_SECURE" || die "secured Kafka exited during start; see $LOGS/$KAFKA_SECURE.log"
    (( waited++ >= READY_TIMEOUT )) && die "secured Kafka not ready after ${READY_TIMEOUT}s; see $LOGS/$KAFKA_SECURE.log"
    sleep 1
  done
  KAFKA_ADMIN_PASSWORD="$(kafka_password admin)" java -Xmx256m -cp "$lib/*" \
    "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.xml" "$HERE/kafka/ApplyAcls.java" \
    "127.0.0.1:$KAFKA_SECURE_PORT" "$HERE/kafka/acls.txt" >>"$LOGS/$KAFKA_SECURE.log" 2>&1 \
    || die "applying topics and ACLs failed; see $LOGS/$KAFKA_SECURE.log"
  log "secured kafka ready after ${waited}s (topics and ACLs of deploy/local/kafka/acls.txt)"
}

# ---------------------------------------------------------------- Kafka, 3-node cluster
cluster_node() { echo "$KAFKA-n$1"; }  # pid/log/data name of node 1..3

kafka_cluster_up() {
  local lib voters="" n
  lib="$(kafka_install)"
  for n in 1 2 3; do voters+="${voters:+,}$n@127.0.0.1:$((CLUSTER_BASE + 2 + n))"; done
  local jopts=(-Xms128m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true
               "-Dlog4j2.configurationFile=$HERE/kafka/log4j2.xml")
  local started=() froms=()
  for n in 1 2 3; do
    local name port cport datadir props
    name="$(cluster_node "$n")"; port=$((CLUSTER_BASE + n - 1)); cport=$((CLUSTER_BASE + 2 + n))
    if alive "$name"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; continue; fi
    port_open "$port" && die "127.0.0.1:$port is taken by a process not started here"
    datadir="$DATA/$name"; props="$DATA/$name-server.properties"
    mkdir -p "$datadir"
    sed -e "s#@NODE_ID@#$n#g" -e "s#@VOTERS@#$voters#g" -e "s#@PORT@#$port#g" \
        -e "s#@CONTROLLER_PORT@#$cport#g" -e "s#@DATA_DIR@#$datadir#g" \
        "$HERE/kafka/cluster.properties.in" >"$props"
    if [[ ! -f "$datadir/meta.properties" ]]; then
      java "${jopts[@]}" -cp "$lib/*" kafka.tools.StorageTool format \
        -t "flowtrux-local-cluster3" -c "$props" --ignore-formatted >>"$LOGS/$name.log" 2>&1 \
        || die "formatting Kafka storage failed; see $LOGS/$name.log"
    fi
    log "starting $name on 127.0.0.1:$port (controller $cport; log: $LOGS/$name.log)"
    froms+=("$(( $(wc -l <"$LOGS/$name.log" 2>/dev/null || echo 0) + 1 ))")
    nohup java "${jopts[@]}" -cp "$lib/*" kafka.Kafka "$props" >>"$LOGS/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
    started+=("$n")
  done
  local i=0 waited=0
  for n in "${started[@]}"; do  # all nodes start together: a node needs the quorum to start
    local name port from
    name="$(cluster_node "$n")"; port=$((CLUSTER_BASE + n - 1)); from="${froms[$i]}"; i=$((i + 1))
    until port_open "$port" && tail -n "+$from" "$LOGS/$name.log" | grep -q "Kafka Server started"; do
      alive "$name" || die "$name exited during start; see $LOGS/$name.log"
      (( waited++ >= READY_TIMEOUT )) && die "$name not ready after ${READY_TIMEOUT}s; see $LOGS/$name.log"
      sleep 1
    done
  done
  (( ${#started[@]} )) && log "kafka cluster ready (${started[*]} started) after ${waited}s"
  return 0
}

# ---------------------------------------------------------------- FerretDB
ferretdb_install() {
  local fp bin
  local modfile
  fp="$(fingerprint "$HERE/ferretdb/main.go" "$HERE/ferretdb/go.mod" "$HERE/ferretdb/go.sum" \
    "$HERE/ferretdb/patch.sh")"
  bin="$CACHE/ferretdb-local-$fp"
  if [[ ! -x "$bin" ]]; then
    command -v go >/dev/null || die "Go is needed to build the FerretDB launcher"
    log "building the FerretDB launcher (FerretDB v1.24.2) into $bin"
    # With its `_id` index usable by `_id` lookups (see ferretdb/patch.sh).
    modfile="$("$HERE/ferretdb/patch.sh" "$CACHE/ferretdb-src-$fp" 2>>"$LOGS/ferretdb-install.log")" \
      || die "patching FerretDB failed; see $LOGS/ferretdb-install.log"
    (cd "$HERE/ferretdb" && CGO_ENABLED=0 go build -trimpath -modfile "$modfile" -o "$bin.tmp" .) \
      >"$LOGS/ferretdb-install.log" 2>&1 \
      || die "building the FerretDB launcher failed; see $LOGS/ferretdb-install.log"
    mv "$bin.tmp" "$bin"
  fi
  echo "$bin"
}

ferretdb_up() {
  if alive "$FERRETDB"; then log "ferretdb already running (pid $(cat "$RUN/$FERRETDB.pid"))"; return; fi
  if port_open "$MONGO_PORT"; then
    log "something already listens on 127.0.0.1:$MONGO_PORT; using it (not started here)"
    return
  fi
  local bin
  bin="$(ferretdb_install)"
  mkdir -p "$DATA/$FERRETDB"
  log "starting FerretDB on 127.0.0.1:$MONGO_PORT (log: $LOGS/$FERRETDB.log)"
  # LOCAL_FERRETDB_PPROF=127.0.0.1:PORT serves Go CPU profiles (bench/peer's --profile).
  FERRETDB_TELEMETRY=disable DO_NOT_TRACK=1 nohup "$bin" -listen "127.0.0.1:$MONGO_PORT" \
    -data "$DATA/$FERRETDB/" ${LOCAL_FERRETDB_PPROF:+-pprof "$LOCAL_FERRETDB_PPROF"} \
    >>"$LOGS/$FERRETDB.log" 2>&1 &
  echo $! >"$RUN/$FERRETDB.pid"
  local waited=0
  until port_open "$MONGO_PORT"; do
    alive "$FERRETDB" || die "FerretDB exited during start; see $LOGS/$FERRETDB.log"
    (( waited++ >= READY_TIMEOUT )) && die "FerretDB not ready after ${READY_TIMEOUT}s; see $LOGS/$FERRETDB.log"
    sleep 1
  done
  log "ferretdb ready after ${waited}s"
}

# ---------------------------------------------------------------- common
stop() { # stop NAME: only a process this script started (its pid file)
  local name="$1" pidfile="$RUN/$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop in 30s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

status() {
  for name in "$KAFKA" "$FERRETDB" "$(cluster_node 1)" "$(cluster_node 2)" "$(cluster_node 3)"; do
    if alive "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"
    else echo "$name: not started here"; fi
  done
  port_open "$KAFKA_PORT" && echo "127.0.0.1:$KAFKA_PORT: listening" || echo "127.0.0.1:$KAFKA_PORT: closed"
  port_open "$MONGO_PORT" && echo "127.0.0.1:$MONGO_PORT: listening" || echo "127.0.0.1:$MONGO_PORT: closed"
}

cmd="${1:-}"; what="${2:-all}"
case "$cmd" in
  install) kafka_install >/dev/null; ferretdb_install >/dev/null ;;
  up)
    case "$what" in
      kafka) kafka_up ;; ferretdb) ferretdb_up ;;
      kafka-secure) kafka_secure_up ;; kafka-cluster) kafka_cluster_up ;;
      all) ferretdb_up; kafka_up ;;
      *) die "unknown component '$what' (kafka, ferretdb, kafka-secure, kafka-cluster)";;
    esac ;;
  down)
    case "$what" in
      kafka) stop "$KAFKA" ;; ferretdb) stop "$FERRETDB" ;; kafka-secure) stop "$KAFKA_SECURE" ;;
      kafka-cluster) # all at once: a node stopped last alone would wait for a lost quorum
        for n in 1 2 3; do
          alive "$(cluster_node "$n")" && kill -TERM "$(cat "$RUN/$(cluster_node "$n").pid")"
        done
        for n in 1 2 3; do stop "$(cluster_node "$n")"; done ;;
      all) stop "$KAFKA"; stop "$FERRETDB"; stop "$KAFKA_SECURE" ;;
      *) die "unknown component '$what' (kafka, ferretdb, kafka-secure, kafka-cluster)";;
    esac ;;
  status) status ;;
  purge) # remove a stopped instance's data (private instances of tests only)
    [[ -n "$INSTANCE" ]] || die "purge is only for LOCAL_INSTANCE instances"
    case "$what" in
      kafka|all)
        alive "$KAFKA" && die "$KAFKA is running"
        rm -rf "$DATA/$KAFKA" "$DATA/$KAFKA-server.properties" ;;&
      ferretdb|all)
        alive "$FERRETDB" && die "$FERRETDB is running"
        rm -rf "$DATA/$FERRETDB" ;;&
      kafka-secure|all)
        alive "$KAFKA_SECURE" && die "$KAFKA_SECURE is running"
        rm -rf "$DATA/$KAFKA_SECURE" "$DATA/$KAFKA_SECURE-server.properties" ;;&
      kafka-cluster|all)
        for n in 1 2 3; do
          alive "$(cluster_node "$n")" && die "$(cluster_node "$n") is running"
          rm -rf "$DATA/$(cluster_node "$n")" "$DATA/$(cluster_node "$n")-server.properties"
        done ;;
    esac ;;
  *) echo "usage: $0 {up|down|status|install|purge} [kafka|ferretdb|kafka-secure|kafka-cluster]" >&2; exit 2 ;;
esac
