#!/usr/bin/env bash
# The OCSP responder side by side with `openssl ocsp -index … -port` serving
# the same certificate, and with our CRL endpoint, on loopback (issue 12).
#
#   scripts/bench-ocsp.sh [SECONDS=5] [ROUNDS=3]
#
# A release ca-api on a fresh data directory (SQLite; set DATABASE_URL for
# PostgreSQL) issues a technological certificate; openssl answers for the
# same certificate from an index file, signing with the same CA key
# (`-multi 2`: one process per core, like our two workers). Both are asked
# the same GET request (RFC 6960 A.1, no nonce) by wrk at 8 and 64
# connections; the sides alternate, ROUNDS times each, and the medians of
# requests/s and p99 are printed with their ratio. Everything stays on
# 127.0.0.1; wrk shares the two cores with the server measured.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}; ROUNDS=${2:-3}
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 2; }
PORT=${PORT:-18444}; PEER=${PEER:-18445}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
OPENSSL=0
# The raw wrk output of the last run is kept in /tmp/bench-ocsp-wrk.log.
trap 'cp "$WORK/wrk.log" /tmp/bench-ocsp-wrk.log 2>/dev/null; pkill -P "$OPENSSL" 2>/dev/null || true; kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release -q -p ca-api --bin ca-api
CA_LISTEN=127.0.0.1:$PORT CA_DATA_DIR="$WORK/data" CA_BOOTSTRAP_ADMIN_PASSWORD=Bootstrap1Pass \
  RUST_LOG=warn target/release/ca-api >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done

json() { curl -sf -H 'Content-Type: application/json' ${TOKEN:+-H "Authorization: Bearer $TOKEN"} -X POST "$BASE$1" -d "$2"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TOKEN=$(json /api/v1/admin/session '{"username":"admin","password":"Bootstrap1Pass"}' | field "['token']")
json /api/v1/admin/password '{"old_password":"Bootstrap1Pass","new_password":"Bench1Password"}' >/dev/null
ORG=$(json /api/v1/admin/organizations '{"name":"ООО Нагрузка","inn":"7700000001","ogrn":"1027700000001","agreement_number":"B-1"}' | field "['id']")
UNTIL=$(date -u -d '+300 days' +%Y-%m-%dT%H:%M:%SZ)
PERSON=$(json /api/v1/admin/persons "{\"organization_id\":\"$ORG\",\"full_name\":\"Тестов Тест\",\"position\":\"Директор\",\"email\":\"t@example.org\",\"authority_document\":\"Д-1\",\"authority_valid_until\":\"$UNTIL\"}" | field "['id']")
cd "$WORK"
SUBJ="/C=RU/O=ООО Нагрузка/OGRN=1027700000001/title=Директор/CN=Тестов Тест"
openssl req -new -utf8 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tech.key -subj "$SUBJ" -out tech.csr 2>/dev/null
CSR=$(python3 -c "import json; print(json.dumps(open('tech.csr').read()))")
json "/api/v1/admin/persons/$PERSON/technological-certificate" "{\"csr_pem\":$CSR}" | field "['certificate_pem']" > tech.pem
cp data/ca.cert.pem ca.pem

# The peer: openssl's responder over an index holding the same certificate.
SERIAL=$(openssl x509 -in tech.pem -noout -serial | cut -d= -f2)
END=$(date -u -d "$(openssl x509 -in tech.pem -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
printf 'V\t%s\t\t%s\tunknown\t/CN=x\n' "$END" "$SERIAL" > index.txt
# openssl's responder stops answering once a load generator has gone away
# with connections open (its children spin; measured here), so each of its
# rounds gets a fresh one, stopped before our side runs again.
start_peer() {
  (cd "$WORK" && exec openssl ocsp -index index.txt -port "$PEER" -rsigner ca.pem -rkey data/ca.key.pem \
    -CA ca.pem -multi 2 -timeout 2 -nmin 60 >>"$WORK/openssl.log" 2>&1) &
  OPENSSL=$!
  for _ in $(seq 1 50); do
    if curl -s --max-time 2 -o /dev/null "$THEIRS"; then return; fi
    sleep 0.2
  done
}
stop_peer() { pkill -P "$OPENSSL" 2>/dev/null || true; kill "$OPENSSL" 2>/dev/null || true; wait "$OPENSSL" 2>/dev/null || true; }
openssl ocsp -issuer ca.pem -cert tech.pem -no_nonce -reqout req.der
B64=$(python3 -c "import base64,urllib.parse; print(urllib.parse.quote(base64.b64encode(open('req.der','rb').read()).decode(), safe=''))")
OURS="$BASE/api/v1/ocsp/$B64"
THEIRS="http://127.0.0.1:$PEER/$B64"
start_peer
# Both say good, signed so that openssl accepts it.
for url in "$OURS" "$THEIRS"; do
  curl -sf --max-time 5 -o resp.der "$url"
  openssl ocsp -respin resp.der -issuer ca.pem -cert tech.pem -CAfile ca.pem -no_nonce 2>&1 | grep -q 'tech.pem: good'
done
stop_peer
cd - >/dev/null

run() { # url connections -> "req/s p99_ms"
  wrk -t2 -c"$2" -d"${SECS}s" --timeout 2s --latency "$1" 2>&1 | tee -a "$WORK/wrk.log" | python3 -c '
import re,sys
t=sys.stdin.read()
rps=float(re.search(r"Requests/sec:\s+([\d.]+)",t).group(1))
m=re.search(r"99%\s+([\d.]+)(us|ms|s)\b",t)
v=float(m.group(1))*{"us":0.001,"ms":1,"s":1000}[m.group(2)] if m else float("nan")
print(rps, v)' || { echo "wrk failed on $1:" >&2; tail -20 "$WORK/wrk.log" >&2; exit 1; }
}
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float,sys.argv[1:])))' "$@"; }
echo "== OCSP GET, same request, ${SECS}s x $ROUNDS rounds each, alternating (median req/s, median p99 ms)"
for c in 8 64; do
  ours_r=(); ours_p=(); theirs_r=(); theirs_p=(); crl_r=()
  for _ in $(seq 1 "$ROUNDS"); do
    read -r r p < <(run "$OURS" "$c"); ours_r+=("$r"); ours_p+=("$p")
    start_peer
    read -r r p < <(run "$THEIRS" "$c"); theirs_r+=("$r"); theirs_p+=("$p")
    stop_peer
    read -r r _ < <(run "$BASE/api/v1/crl" "$c"); crl_r+=("$r")
  done
  o=$(median "${ours_r[@]}"); t=$(median "${theirs_r[@]}"); k=$(median "${crl_r[@]}")
  op=$(median "${ours_p[@]}"); tp=$(median "${theirs_p[@]}")
  python3 -c "
o, t = $o, $t
ratio = f'{o/t:.1f}x' if t else 'n/a: openssl answered nothing within the 2 s timeout'
print(f'$c connections: ours {o:.0f}/s p99 {$op:.2f} ms | openssl ocsp {t:.0f}/s p99 {$tp:.2f} ms | ratio {ratio} | our CRL endpoint {$k:.0f}/s')"
done
