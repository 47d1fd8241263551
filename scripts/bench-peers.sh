#!/usr/bin/env bash
# Issue 10's table, side by side in one run on this machine, the sides
# alternating, ROUNDS times, medians:
#  1. issuance over HTTP, 8 clients and 1 client: ours (each request a new
#     CMS envelope, checked, recorded before signing, signed, stored;
#     auto-approved) against CFSSL's `serve` sign endpoint (Debian's
#     golang-cfssl; signs and stores nothing), both driven by the same
#     client (`ca-api/examples/load.rs`), both CAs RSA of the same size;
#     `openssl speed -multi 2` as the signing limit;
#  2. GET of a full CRL of N entries (wrk, 8 connections): ours against
#     nginx serving the same bytes from a file;
#  3. GET of a certificate's status (wrk, 8 connections): ours against nginx
#     serving the same JSON from a file;
#  4. the same lookups while 8 more connections download the CRL in a loop,
#     each side serving both (req/s and p99).
#
#   scripts/bench-peers.sh [N=100000] [ROUNDS=3] [SECONDS=4]
#
# ISSUANCE=0 skips part 1 (its envelopes take minutes to make).
# SOLO=1 adds a third side to part 1: ours with every write committing
# alone (CA_COMMIT_GROUP_MAX=1), to show what group commit buys.
# BENCH_DATABASE_URL=postgres://… runs our server on that (empty)
# PostgreSQL database instead of SQLite.
# SERVER_BIN=path runs that build of our server instead (an A/B against an
# older commit's binary, saved aside).
# CA_ALGORITHM=rsa-2048 (or another `algorithm` of policies/ca.toml) runs
# our CA, and CFSSL's, with that key instead of the shipped RSA-3072.
#
# Installs CFSSL, nginx and wrk from Debian's packages when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}; ROUNDS=${2:-3}; SECS=${3:-4}; ISSUANCE=${ISSUANCE:-1}; SOLO=${SOLO:-0}
GROUP_MAX=64
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
PORT=${PORT:-18463}; CFSSL_PORT=$((PORT + 1)); NGINX_PORT=$((PORT + 2))
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
SERVER=; CFSSL=; NGINX=
trap 'kill $SERVER $CFSSL 2>/dev/null || true; [ -n "$NGINX" ] && nginx -p "$WORK/nginx" -c nginx.conf -s stop 2>/dev/null; rm -rf "$WORK"' EXIT

missing=()
command -v cfssl >/dev/null || missing+=(golang-cfssl)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

cargo build --release -q -p ca-api --bin ca-api --example load
LOAD=target/release/examples/load
SERVER_BIN=${SERVER_BIN:-target/release/ca-api}

# Ours: a copy of policies/ whose working profile also auto-approves
# initial requests (as scripts/load-api.sh): the same checks and signature,
# no operator in the loop.
cp -r policies "$WORK/policies"
sed -i '/^\[working\]/,/^\[additional\]/ s/auto_approve = \["rotation"\]/auto_approve = ["initial", "rotation"]/' "$WORK/policies/profiles.toml"
grep -q 'auto_approve = \["initial", "rotation"\]' "$WORK/policies/profiles.toml"
if [ -n "${CA_ALGORITHM:-}" ]; then
  sed -i "s/^algorithm = .*/algorithm = \"$CA_ALGORITHM\"/" "$WORK/policies/ca.toml"
fi
start() {
  # (env: an assignment that comes from an expansion is not one to bash)
  env CA_POLICIES_DIR="$WORK/policies" CA_LISTEN=127.0.0.1:$PORT CA_DATA_DIR="$WORK/data" \
    CA_BOOTSTRAP_ADMIN_PASSWORD=Bootstrap1Pass CA_TICK_SECONDS=3600 RUST_LOG=warn \
    CA_COMMIT_GROUP_MAX=$GROUP_MAX ${BENCH_DATABASE_URL:+DATABASE_URL=$BENCH_DATABASE_URL} \
    "$SERVER_BIN" >>"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do curl -sf "$BASE/health" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$WORK/server.log"; exit 1
}
stop() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; }
json() { curl -sf -H 'Content-Type: application/json' ${TOKEN:+-H "Authorization: Bearer $TOKEN"} -X POST "$BASE$1" -d "$2"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
last() { echo "$1" | awk '{print $NF}'; }
ratio() { python3 -c "print(f'{$1/$2:.2f}x')"; }

start
TOKEN=$(json /api/v1/admin/session '{"username":"admin","password":"Bootstrap1Pass"}' | field "['token']")
json /api/v1/admin/password '{"old_password":"Bootstrap1Pass","new_password":"Bench1Password"}' >/dev/null
TOKEN=$(json /api/v1/admin/session '{"username":"admin","password":"Bench1Password"}' | field "['token']")
ORG=$(json /api/v1/admin/organizations '{"name":"ООО Замер","inn":"7700000003","ogrn":"1027700000003","agreement_number":"P-1"}' | field "['id']")
UNTIL=$(date -u -d '+300 days' +%Y-%m-%dT%H:%M:%SZ)
PERSON=$(json /api/v1/admin/persons "{\"organization_id\":\"$ORG\",\"full_name\":\"Замеров Замер\",\"position\":\"Директор\",\"email\":\"z@example.org\",\"authority_document\":\"Д-1\",\"authority_valid_until\":\"$UNTIL\"}" | field "['id']")
SUBJ="/C=RU/O=ООО Замер/OGRN=1027700000003/title=Директор/CN=Замеров Замер"
openssl req -new -utf8 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/tech.key" -subj "$SUBJ" -out "$WORK/tech.csr" 2>/dev/null
CSR=$(python3 -c "import json; print(json.dumps(open('$WORK/tech.csr').read()))")
json "/api/v1/admin/persons/$PERSON/technological-certificate" "{\"csr_pem\":$CSR}" > "$WORK/tech.json"
field "['certificate_pem']" < "$WORK/tech.json" > "$WORK/tech.pem"
LOOKUP=$(field "['serial']" < "$WORK/tech.json")

CA_BITS=$(openssl x509 -in "$WORK/data/ca.cert.pem" -noout -text | sed -n 's/.*Public-Key: (\([0-9]*\) bit).*/\1/p')
declare -A RPS P50 P99
if [ "$ISSUANCE" = 1 ]; then
# Envelopes: each submission needs its own key (a repeat is the same request,
# and a key certified once is refused). 700 a second for SECS seconds is
# more than either client count reaches here.
PER8=$((1000 * SECS)); PER1=$((600 * SECS))
SETS="8 1"; [ "$SOLO" = 1 ] && SETS="8 1 s8 s1"
echo "== making $(( (PER8 + PER1) * ROUNDS * (1 + SOLO) )) envelopes with openssl"
make_one() {
  openssl req -new -utf8 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj "$SUBJ" -outform DER -out "$1.csr" 2>/dev/null
  openssl cms -sign -binary -nodetach -outform DER -in "$1.csr" -signer "$WORK/tech.pem" \
    -inkey "$WORK/tech.key" -out "$1.p7"
  rm "$1.csr"
}
export -f make_one; export SUBJ WORK
for r in $(seq 1 "$ROUNDS"); do
  for set in $SETS; do
    mkdir -p "$WORK/env$set-$r"
    count=$PER1; [ "${set#s}" = 8 ] && count=$PER8
    seq -w 1 "$count" | sed "s|^|$WORK/env$set-$r/|" | xargs -P "$(nproc)" -I{} bash -c 'make_one {}'
  done
done

# CFSSL with an RSA CA of our CA's size.
mkdir "$WORK/cfssl"
openssl req -x509 -newkey "rsa:$CA_BITS" -nodes -keyout "$WORK/cfssl/ca.key" -subj "/CN=CFSSL bench CA" \
  -days 30 -out "$WORK/cfssl/ca.pem" 2>/dev/null
echo '{"signing":{"default":{"expiry":"8760h","usages":["digital signature","client auth"]}}}' > "$WORK/cfssl/config.json"
cfssl serve -address 127.0.0.1 -port "$CFSSL_PORT" -ca "$WORK/cfssl/ca.pem" -ca-key "$WORK/cfssl/ca.key" \
  -config "$WORK/cfssl/config.json" >"$WORK/cfssl/log" 2>&1 &
CFSSL=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$CFSSL_PORT/api/v1/cfssl/info" -d '{}' && break; sleep 0.1; done
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "/CN=bench" -out "$WORK/cfssl/req.csr" 2>/dev/null

echo "== limit: openssl speed rsa$CA_BITS, 2 processes"
SPEED=$(openssl speed -multi "$(nproc)" -seconds 3 "rsa$CA_BITS" 2>/dev/null | awk '/^rsa [0-9]+ bits/ {print $(NF-1)}' | tail -1)
echo "openssl signs/s: $SPEED"

# "name  ok ok  errors errors  rps req/s  p50 X ms  p99 Y ms" → "rps p50 p99"
parse() { awk '/req\/s/ {for (i=1;i<=NF;i++) {if ($(i+1)=="req/s") r=$i; if ($i=="p50") p=$(i+1); if ($i=="p99") q=$(i+1)}; print r, p, q}'; }
for r in $(seq 1 "$ROUNDS"); do
  for c in 8 1; do
    read -r a b d < <($LOAD --server "$BASE" --envelopes "$WORK/env$c-$r" --threads "$c" --seconds "$SECS" --only submit | parse)
    RPS[ours$c]+="$a "; P50[ours$c]+="$b "; P99[ours$c]+="$d "
    read -r a b d < <($LOAD --server "http://127.0.0.1:$CFSSL_PORT" --cfssl-sign "$WORK/cfssl/req.csr" --threads "$c" --seconds "$SECS" | parse)
    RPS[cfssl$c]+="$a "; P50[cfssl$c]+="$b "; P99[cfssl$c]+="$d "
    if [ "$SOLO" = 1 ]; then
      stop; GROUP_MAX=1; start
      read -r a b d < <($LOAD --server "$BASE" --envelopes "$WORK/envs$c-$r" --threads "$c" --seconds "$SECS" --only submit | parse)
      RPS[solo$c]+="$a "; P50[solo$c]+="$b "; P99[solo$c]+="$d "
      stop; GROUP_MAX=64; start
      echo "  each write committing alone: $(last "${RPS[solo$c]}") req/s"
    fi
    echo "round $r, $c client(s): ours $(last "${RPS[ours$c]}") req/s, cfssl $(last "${RPS[cfssl$c]}") req/s"
  done
done
kill "$CFSSL"; CFSSL=
fi

# Parts 2 to 4 seed the SQLite file directly: SQLite runs only.
if [ -z "${BENCH_DATABASE_URL:-}" ]; then
# A full CRL of N entries: copies of one certificate row, revoked, written
# while the server is stopped (as scripts/bench-revocation.sh).
stop
python3 - "$WORK/data/authority.sqlite3" "$LOOKUP" "$N" <<'PY'
import os, sqlite3, sys
db, template, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = sqlite3.connect(db)
cols = [r[1] for r in c.execute("PRAGMA table_info(certificates)")]
row = dict(zip(cols, c.execute("SELECT * FROM certificates WHERE serial = ?", (template,)).fetchone()))
row.update(status="revoked", revoked_at=row["created_at"], revocation_reason="key_compromise", der=None)
ph = ",".join("?" * len(cols))
def rows():
    for _ in range(n):
        row.update(serial="7" + os.urandom(16).hex()[1:], key_sha256=os.urandom(32).hex())
        yield tuple(row[k] for k in cols)
c.executemany(f"INSERT INTO certificates ({','.join(cols)}) VALUES ({ph})", rows())
c.commit()
PY
start
TOKEN=$(json /api/v1/admin/session '{"username":"admin","password":"Bench1Password"}' | field "['token']")
json /api/v1/admin/crl '{}' >/dev/null
mkdir -p "$WORK/nginx/html" "$WORK/nginx/logs"
curl -sf "$BASE/api/v1/crl" -o "$WORK/nginx/html/crl.der"
curl -sf "$BASE/api/v1/certificates/$LOOKUP" -o "$WORK/nginx/html/status.json"
CRL_BYTES=$(stat -c %s "$WORK/nginx/html/crl.der")
# nginx's workers run unprivileged: let them read the files.
chmod 755 "$WORK" "$WORK/nginx" "$WORK/nginx/html"; chmod 644 "$WORK/nginx/html/"*
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  types { application/pkix-crl der; application/json json; }
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/nginx/html; }
}
EOF
nginx -p "$WORK/nginx" -c nginx.conf; NGINX=1
# Both sides must serve the same bytes, or the comparison means nothing.
cmp <(curl -sf "http://127.0.0.1:$NGINX_PORT/crl.der") "$WORK/nginx/html/crl.der"
cmp <(curl -sf "http://127.0.0.1:$NGINX_PORT/status.json") "$WORK/nginx/html/status.json"
rps() {
  local out; out=$(wrk -t2 -c8 -d"${SECS}s" "$1")
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers from $1:" >&2; echo "$out" >&2; exit 1; fi
  awk '/^Requests\/sec/ {print $2}' <<<"$out"
}
declare -A GET
for r in $(seq 1 "$ROUNDS"); do
  GET[ours_crl]+="$(rps "$BASE/api/v1/crl") "
  GET[nginx_crl]+="$(rps "http://127.0.0.1:$NGINX_PORT/crl.der") "
  GET[ours_status]+="$(rps "$BASE/api/v1/certificates/$LOOKUP") "
  GET[nginx_status]+="$(rps "http://127.0.0.1:$NGINX_PORT/status.json") "
  echo "round $r: CRL ours $(last "${GET[ours_crl]}") nginx $(last "${GET[nginx_crl]}"); status ours $(last "${GET[ours_status]}") nginx $(last "${GET[nginx_status]}") req/s"
done

# 4. Status lookups while 8 connections download the CRL in a loop, each
# side serving both (issue 10: the lookups must not queue behind the
# downloads). "req/s p99-ms" of the lookups.
during() {
  wrk -t1 -c8 -d"$((SECS + 2))s" "$1" >/dev/null &
  local dl=$!
  sleep 1
  wrk -t1 -c8 -d"${SECS}s" --latency "$2" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^Requests\/sec/ {r = $2} $1 == "99%" {q = ms($2)} END {print r, q}'
  wait "$dl"
}
for r in $(seq 1 "$ROUNDS"); do
  read -r a b < <(during "$BASE/api/v1/crl" "$BASE/api/v1/certificates/$LOOKUP")
  GET[ours_during]+="$a "; GET[ours_during_p99]+="$b "
  read -r a b < <(during "http://127.0.0.1:$NGINX_PORT/crl.der" "http://127.0.0.1:$NGINX_PORT/status.json")
  GET[nginx_during]+="$a "; GET[nginx_during_p99]+="$b "
  echo "round $r, status during CRL downloads: ours $(last "${GET[ours_during]}") req/s p99 $(last "${GET[ours_during_p99]}") ms, nginx $(last "${GET[nginx_during]}") req/s p99 $(last "${GET[nginx_during_p99]}") ms"
done

fi

m() { med ${1}; }
echo
echo "== medians of $ROUNDS alternating rounds, $(nproc) cores shared by server and client; CA RSA-$CA_BITS"
printf '%-44s %12s %12s %10s\n' "what" "ours" "peer" "ours/peer"
for c in 8 1; do
  [ "$ISSUANCE" = 1 ] || break
  o=$(m "${RPS[ours$c]}"); p=$(m "${RPS[cfssl$c]}")
  printf '%-44s %12s %12s %10s\n' "issuance req/s, $c client(s) (peer: cfssl sign)" "$o" "$p" "$(ratio "$o" "$p")"
  printf '%-44s %12s %12s\n' "  p50 / p99 ms" "$(m "${P50[ours$c]}") / $(m "${P99[ours$c]}")" "$(m "${P50[cfssl$c]}") / $(m "${P99[cfssl$c]}")"
  if [ "$SOLO" = 1 ]; then
    q=$(m "${RPS[solo$c]}")
    printf '%-44s %12s %12s %10s\n' "  group commit: ours vs each write alone" "$o" "$q" "$(ratio "$o" "$q")"
    printf '%-44s %12s %12s\n' "  p50 / p99 ms (ours / alone)" "$(m "${P50[ours$c]}") / $(m "${P99[ours$c]}")" "$(m "${P50[solo$c]}") / $(m "${P99[solo$c]}")"
  fi
done
[ "$ISSUANCE" = 1 ] && printf '%-44s %12s %12s %10s\n' "issuance at 8 clients vs openssl signs/s" "$(m "${RPS[ours8]}")" "$SPEED" "$(ratio "$(m "${RPS[ours8]}")" "$SPEED")"
[ -n "${BENCH_DATABASE_URL:-}" ] && exit 0
o=$(m "${GET[ours_crl]}"); p=$(m "${GET[nginx_crl]}")
printf '%-44s %12s %12s %10s\n' "GET CRL ($N entries, $CRL_BYTES B) req/s (nginx)" "$o" "$p" "$(ratio "$o" "$p")"
o=$(m "${GET[ours_status]}"); p=$(m "${GET[nginx_status]}")
printf '%-44s %12s %12s %10s\n' "GET status req/s (peer: nginx static)" "$o" "$p" "$(ratio "$o" "$p")"
o=$(m "${GET[ours_during]}"); p=$(m "${GET[nginx_during]}")
printf '%-44s %12s %12s %10s\n' "  the same while 8 download the CRL" "$o" "$p" "$(ratio "$o" "$p")"
printf '%-44s %12s %12s\n' "  its p99 ms" "$(m "${GET[ours_during_p99]}")" "$(m "${GET[nginx_during_p99]}")"
