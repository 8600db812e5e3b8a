#!/bin/sh
# The README's three-node example on one machine without Docker: a
# three-node NATS cluster (nats-server with JetStream), one origin (region
# eu) and two edges (eu, us) sharing the PostgreSQL database at DB. The
# same flags as deploy/docker-compose.cluster.yml; Ctrl-C stops it all.
#
#   go build -o /tmp/livehouse ./cmd/livehouse
#   DB=postgres://postgres@127.0.0.1:5432/livehouse_demo BIN=/tmp/livehouse deploy/three-node-local.sh
#
# Ports: HTTP 8080 (origin), 8081 and 8082 (edges), RTMP 1935 (origin),
# NATS clients 4322-4324 and routes 6322-6324 (4222 is often a local NATS
# already). HOST is the address viewers reach this machine by; DIR keeps
# the nodes' data (a fresh temporary directory by default).
set -eu
BIN=${BIN:-livehouse}
HOST=${HOST:-127.0.0.1}
DB=${DB:?set DB to a PostgreSQL URL (its own database: the nodes create their tables)}
DIR=${DIR:-$(mktemp -d /tmp/livehouse-three-node.XXXXXX)}
command -v nats-server >/dev/null || { echo "nats-server is needed (Debian: apt-get install nats-server)" >&2; exit 1; }

pids=""
stop() {
	trap - INT TERM EXIT
	# shellcheck disable=SC2086
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait
}
trap stop INT TERM EXIT

routes="nats://127.0.0.1:6322,nats://127.0.0.1:6323,nats://127.0.0.1:6324"
for i in 1 2 3; do
	mkdir -p "$DIR/nats-$i"
	nats-server -a 127.0.0.1 -p "432$((i + 1))" -js -sd "$DIR/nats-$i" --server_name "nats-$i" \
		--cluster_name livehouse --cluster "nats://127.0.0.1:632$((i + 1))" --routes "$routes" \
		-l "$DIR/nats-$i.log" &
	pids="$pids $!"
done
sleep 2 # routes form and JetStream elects its leader

NATS="nats://127.0.0.1:4322,nats://127.0.0.1:4323,nats://127.0.0.1:4324"
"$BIN" serve --role origin --region eu --http :8080 --rtmp :1935 --public-url "http://$HOST:8080" \
	--public-host "$HOST" --data "$DIR/origin" --db "$DB" --nats "$NATS" &
pids="$pids $!"
sleep 3 # the origin migrates the database first
"$BIN" serve --role edge --region eu --http :8081 --public-url "http://$HOST:8081" \
	--data "$DIR/edge-a" --db "$DB" --nats "$NATS" &
pids="$pids $!"
"$BIN" serve --role edge --region us --http :8082 --public-url "http://$HOST:8082" \
	--data "$DIR/edge-b" --db "$DB" --nats "$NATS" &
pids="$pids $!"
echo "three nodes on $HOST: origin :8080 (RTMP :1935), edges :8081 (eu) and :8082 (us); data in $DIR" >&2
wait
