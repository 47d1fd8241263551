#!/usr/bin/env bash
# Load test of the API on loopback, with the machine's own RSA signing rate
# measured in the same run as the ceiling to compare with.
#
#   scripts/load-api.sh [ENVELOPES=600] [THREADS=8] [SECONDS=10]
#
# Starts a release ca-api on a fresh data directory (SQLite; set DATABASE_URL
# for PostgreSQL), registers a person with a technological certificate, makes
# ENVELOPES initial requests signed with it using openssl, then runs the load
# example: submissions (each one issued at once: one CA signature each),
# request status lookups, and CRL downloads. Everything stays on 127.0.0.1.
#
# Issuance without an operator needs a policy that allows it: the shipped
# profiles auto-approve only rotations, and only a certificate's first
# successor inside its renewal window (SPEC §3.8), so one working key cannot
# feed a load. The server here runs with a copy of policies/ whose working
# profile also auto-approves initial requests: the same checks, the same
# signature, no operator.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-600}; THREADS=${2:-8}; SECS=${3:-10}
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
PORT=${PORT:-18443}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release -q -p ca-api --bin ca-api --example load
cp -r policies "$WORK/policies"
python3 - "$WORK/policies/profiles.toml" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
head, rest = s.split("[working]", 1)
body, tail = rest.split("[additional]", 1)
body = body.replace('auto_approve = ["rotation"]', 'auto_approve = ["initial", "rotation"]')
open(p, "w").write(head + "[working]" + body + "[additional]" + tail)
PY
grep -q 'auto_approve = \["initial", "rotation"\]' "$WORK/policies/profiles.toml"
CA_POLICIES_DIR="$WORK/policies" CA_LISTEN=127.0.0.1:$PORT CA_DATA_DIR="$WORK/data" CA_BOOTSTRAP_ADMIN_PASSWORD=Bootstrap1Pass \
  RUST_LOG=warn target/release/ca-api >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done

json() { curl -sf -H 'Content-Type: application/json' ${TOKEN:+-H "Authorization: Bearer $TOKEN"} -X POST "$BASE$1" -d "$2"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TOKEN=$(json /api/v1/admin/session '{"username":"admin","password":"Bootstrap1Pass"}' | field "['token']")
json /api/v1/admin/password '{"old_password":"Bootstrap1Pass","new_password":"Load1Password"}' >/dev/null || true
ORG=$(json /api/v1/admin/organizations '{"name":"ООО Нагрузка","inn":"7700000001","ogrn":"1027700000001","agreement_number":"L-1"}' | field "['id']")
UNTIL=$(date -u -d '+300 days' +%Y-%m-%dT%H:%M:%SZ)
PERSON=$(json /api/v1/admin/persons "{\"organization_id\":\"$ORG\",\"full_name\":\"Тестов Тест\",\"position\":\"Директор\",\"email\":\"t@example.org\",\"authority_document\":\"Д-1\",\"authority_valid_until\":\"$UNTIL\"}" | field "['id']")
SUBJ="/C=RU/O=ООО Нагрузка/OGRN=1027700000001/title=Директор/CN=Тестов Тест"
cd "$WORK"
openssl req -new -utf8 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tech.key -subj "$SUBJ" -out tech.csr 2>/dev/null
CSR=$(python3 -c "import json; print(json.dumps(open('tech.csr').read()))")
json "/api/v1/admin/persons/$PERSON/technological-certificate" "{\"csr_pem\":$CSR}" | field "['certificate_pem']" > tech.pem
echo "== making $N initial-request envelopes with openssl"
mkdir envelopes
for i in $(seq -w 1 "$N"); do
  openssl req -new -utf8 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "$SUBJ" -outform DER -out r.csr 2>/dev/null
  openssl cms -sign -binary -nodetach -outform DER -in r.csr -signer tech.pem -inkey tech.key -out "envelopes/$i.p7"
done
cd - >/dev/null

CA_BITS=$(openssl x509 -in "$WORK/data/ca.cert.pem" -noout -text | sed -n 's/.*Public-Key: (\([0-9]*\) bit).*/\1/p')
echo "== baseline on this machine: openssl speed rsa2048 rsa$CA_BITS (the CA key is RSA-$CA_BITS)"
openssl speed -seconds 5 rsa2048 "rsa$CA_BITS" 2>/dev/null | grep -E '^ +sign|^rsa'
echo "== load: $THREADS client threads, up to $SECS s a phase, $(nproc) cores shared with the server"
target/release/examples/load --server "$BASE" --envelopes "$WORK/envelopes" --threads "$THREADS" --seconds "$SECS"
