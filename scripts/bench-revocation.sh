#!/usr/bin/env bash
# Issue 10, measured side by side in one run on this machine:
#  1. publishing a full CRL of N revoked certificates (ours: POST
#     /api/v1/admin/crl, time and the server's peak RSS) against
#     `openssl ca -gencrl` on an index of the same N entries;
#  2. one revocation with N revoked certificates stored: its latency at the
#     API, the time until the CRL carrying it is served, and status lookups
#     (wrk, 8 connections) during it against the same lookups without it,
#     alternating, ROUNDS times; medians.
#
#   scripts/bench-revocation.sh [N=1000000] [ROUNDS=3]
#
# The N certificates are copies of one real certificate row with fresh
# serials and keys, written straight into the SQLite file while the server
# is stopped (issuing a million through the API would take the bench's
# whole budget); everything after that goes through the API.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}; ROUNDS=${2:-3}
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
PORT=${PORT:-18453}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
SERVER=
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 2; }

cargo build --release -q -p ca-api --bin ca-api
start() {
  CA_LISTEN=127.0.0.1:$PORT CA_DATA_DIR="$WORK/data" CA_BOOTSTRAP_ADMIN_PASSWORD=Bootstrap1Pass \
    CA_TICK_SECONDS=3600 RUST_LOG=warn target/release/ca-api >>"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do curl -sf "$BASE/health" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$WORK/server.log"; exit 1
}
stop() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; }
json() { curl -sf -H 'Content-Type: application/json' ${TOKEN:+-H "Authorization: Bearer $TOKEN"} -X POST "$BASE$1" -d "$2"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
login() { TOKEN=$(json /api/v1/admin/session "{\"username\":\"admin\",\"password\":\"$1\"}" | field "['token']"); }
tech() {
  openssl req -new -utf8 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
    -subj "$SUBJ" -out "$WORK/t.csr" 2>/dev/null
  local csr; csr=$(python3 -c "import json; print(json.dumps(open('$WORK/t.csr').read()))")
  json "/api/v1/admin/persons/$PERSON/technological-certificate" "{\"csr_pem\":$csr}" | field "['serial']"
}
crl_number() { curl -sf -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/admin/crl" | field "['number']"; }

start
TOKEN=; login Bootstrap1Pass
json /api/v1/admin/password '{"old_password":"Bootstrap1Pass","new_password":"Bench1Password"}' >/dev/null
login Bench1Password
ORG=$(json /api/v1/admin/organizations '{"name":"ООО Замер","inn":"7700000002","ogrn":"1027700000002","agreement_number":"B-1"}' | field "['id']")
UNTIL=$(date -u -d '+300 days' +%Y-%m-%dT%H:%M:%SZ)
PERSON=$(json /api/v1/admin/persons "{\"organization_id\":\"$ORG\",\"full_name\":\"Замеров Замер\",\"position\":\"Директор\",\"email\":\"z@example.org\",\"authority_document\":\"Д-1\",\"authority_valid_until\":\"$UNTIL\"}" | field "['id']")
SUBJ="/C=RU/O=ООО Замер/OGRN=1027700000002/title=Директор/CN=Замеров Замер"
TEMPLATE=$(tech)
stop

echo "== storing $N revoked certificates (copies of $TEMPLATE)"
python3 - "$WORK/data/authority.sqlite3" "$TEMPLATE" "$N" <<'PY'
import os, sqlite3, sys
db, template, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = sqlite3.connect(db)
cols = [r[1] for r in c.execute("PRAGMA table_info(certificates)")]
row = dict(zip(cols, c.execute("SELECT * FROM certificates WHERE serial = ?", (template,)).fetchone()))
row.update(status="revoked", revoked_at=row["created_at"], revocation_reason="key_compromise", der=None)
ph = ",".join("?" * len(cols))
def rows():
    for _ in range(n):
        serial = "7" + os.urandom(16).hex()[1:]
        row.update(serial=serial, key_sha256=os.urandom(32).hex())
        yield tuple(row[k] for k in cols)
c.executemany(f"INSERT INTO certificates ({','.join(cols)}) VALUES ({ph})", rows())
c.commit()
PY

echo "== openssl ca -gencrl on an index of the same $N entries ($(openssl version))"
python3 - "$WORK/openssl" "$N" <<'PY'
import os, subprocess, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d)
with open(f"{d}/index.txt", "w") as f:
    for _ in range(n):
        f.write(f"R\t301231235959Z\t261124000000Z,keyCompromise\t7{os.urandom(16).hex().upper()[1:]}\tunknown\t/CN=x\n")
open(f"{d}/crlnumber", "w").write("01\n")
open(f"{d}/ca.cnf", "w").write(f"""[ca]
default_ca = d
[d]
database = {d}/index.txt
crlnumber = {d}/crlnumber
default_md = sha256
default_crl_days = 1
unique_subject = no
""")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:3072", "-nodes", "-keyout", f"{d}/ca.key",
                "-subj", "/CN=bench", "-out", f"{d}/ca.pem", "-days", "30"], check=True, capture_output=True)
PY
openssl_gencrl() {
  python3 - "$WORK/openssl" <<'PY'
import resource, subprocess, sys, time
d = sys.argv[1]
t = time.monotonic()
subprocess.run(["openssl", "ca", "-gencrl", "-config", f"{d}/ca.cnf", "-keyfile", f"{d}/ca.key",
                "-cert", f"{d}/ca.pem", "-out", f"{d}/crl.pem"], check=True, capture_output=True)
print(f"{time.monotonic() - t:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024}")
PY
}

start
login Bench1Password
ours=(); theirs=(); rss=0
for r in $(seq 1 "$ROUNDS"); do
  t=$(curl -sf -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" -X POST "$BASE/api/v1/admin/crl")
  ours+=("$t")
  read -r ot orss < <(openssl_gencrl); theirs+=("$ot")
  rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SERVER/status")
  echo "round $r: ours ${t}s (server peak RSS ${rss} MB so far) | openssl ca -gencrl ${ot}s (${orss} MB)"
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
MO=$(med "${ours[@]}"); MT=$(med "${theirs[@]}")
echo "publish a $N-entry full CRL: ours $MO s, openssl $MT s, ratio openssl/ours $(python3 -c "print(round($MT/$MO, 2))")x; server peak RSS ${rss} MB"

echo "== one revocation with $N revoked stored; status lookups (wrk -c8) during it vs without"
LOOKUP=$(tech)
p99() { awk '/^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}'; }
# Polls, from one process over one connection every 20 ms, until the full
# CRL's number exceeds $1 or $2 seconds pass; prints the seconds since $3
# (epoch), or "none". It runs the same way in both wrk windows, so what the
# polling costs the lookups is on both sides. (It used to be a curl and a
# python3 started per poll during the publication only: about fifty
# processes a second on two cores, which the lookups' p99 "during" paid.)
await_crl() {
  python3 - "$PORT" "$TOKEN" "$1" "$2" "$3" <<'PY'
import http.client, json, sys, time
port, token, before, limit, t0 = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
conn = http.client.HTTPConnection("127.0.0.1", port)
end = time.time() + limit
while time.time() < end:
    conn.request("GET", "/api/v1/admin/crl", headers={"Authorization": f"Bearer {token}"})
    if json.loads(conn.getresponse().read())["number"] > before:
        print(round(time.time() - t0, 3))
        sys.exit()
    time.sleep(0.02)
print("none")
PY
}
quiet=(); busy=(); revoke=(); visible=()
for r in $(seq 1 "$ROUNDS"); do
  wrk -t2 -c8 -d5s --latency "$BASE/api/v1/certificates/$LOOKUP" >"$WORK/wrk.txt" &
  WRK=$!; sleep 1
  await_crl 999999999999 4 "$(date +%s.%N)" >/dev/null
  wait $WRK; q=$(p99 <"$WORK/wrk.txt"); quiet+=("$q")
  victim=$(tech); before=$(crl_number)
  wrk -t2 -c8 -d5s --latency "$BASE/api/v1/certificates/$LOOKUP" >"$WORK/wrk.txt" &
  WRK=$!; sleep 1
  t0=$(date +%s.%N)
  rt=$(curl -sf -o /dev/null -w '%{time_total}' -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
      -X POST "$BASE/api/v1/admin/certificates/$victim/revoke" -d '{"reason":"key_compromise","document":"З-1"}')
  vt=$(await_crl "$before" 300 "$t0")
  wait $WRK; b=$(p99 <"$WORK/wrk.txt")
  busy+=("$b"); revoke+=("$rt"); visible+=("$vt")
  echo "round $r: revoke ${rt}s at the API, on the CRL after ${vt}s; status p99 ${b} ms during, ${q} ms without"
done
echo "revocation at the API (median): $(med "${revoke[@]}") s; CRL carrying it served after $(med "${visible[@]}") s"
echo "status p99 (median): $(med "${busy[@]}") ms during publication, $(med "${quiet[@]}") ms without"
