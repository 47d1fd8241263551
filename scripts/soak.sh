#!/usr/bin/env bash
# Soak (issue 14): MINUTES of mixed load on a release server (SQLite; set
# DATABASE_URL for PostgreSQL) — issuance (auto-approved initial requests,
# each a new key made by openssl), status lookups, CRL downloads,
# suspensions, resumptions and revocations — sampling each minute the
# server's RSS, the p99 of status lookups and submissions, the requests
# done and the errors (any 5xx, or a refusal the load did not expect).
# Ends with `ca-api check` on the data it left.
#
#   scripts/soak.sh [MINUTES=30]
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-30}
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
PORT=${PORT:-18463}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
SERVER=
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

cargo build --release -q -p ca-api --bin ca-api
# Initial requests issue without an operator here (as in load-api.sh).
cp -r policies "$WORK/policies"
python3 - "$WORK/policies/profiles.toml" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
head, rest = s.split("[working]", 1)
body, tail = rest.split("[additional]", 1)
body = body.replace('auto_approve = ["rotation"]', 'auto_approve = ["initial", "rotation"]')
open(p, "w").write(head + "[working]" + body + "[additional]" + tail)
PY
export CA_POLICIES_DIR="$WORK/policies" CA_DATA_DIR="$WORK/data"
CA_LISTEN=127.0.0.1:$PORT CA_BOOTSTRAP_ADMIN_PASSWORD=Bootstrap1Pass CA_TICK_SECONDS=5 \
  RUST_LOG=warn target/release/ca-api >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done

python3 - "$BASE" "$SERVER" "$MINUTES" "$WORK" <<'PY'
import http.client, json, os, random, subprocess, sys, threading, time, urllib.parse
base, pid, minutes, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
host = urllib.parse.urlparse(base).netloc

def call(conn, method, path, body=None, token=None, ctype="application/json"):
    headers = {"Content-Type": ctype} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    t = time.monotonic()
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, data, time.monotonic() - t

c = http.client.HTTPConnection(host, timeout=30)
def j(method, path, obj=None, token=None):
    s, d, _ = call(c, method, path, json.dumps(obj) if obj is not None else None, token)
    return s, (json.loads(d) if d else None)
_, r = j("POST", "/api/v1/admin/session", {"username": "admin", "password": "Bootstrap1Pass"})
tok = r["token"]
j("POST", "/api/v1/admin/password", {"old_password": "Bootstrap1Pass", "new_password": "Soak1Password"}, tok)
_, r = j("POST", "/api/v1/admin/session", {"username": "admin", "password": "Soak1Password"})
tok = r["token"]
_, org = j("POST", "/api/v1/admin/organizations", {"name": "ООО Выдержка", "inn": "7700000003",
           "ogrn": "1027700000003", "agreement_number": "S-1"}, tok)
until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300 * 86400))
_, person = j("POST", "/api/v1/admin/persons", {"organization_id": org["id"], "full_name": "Выдержкин Соак",
              "position": "Директор", "email": "s@example.org", "authority_document": "Д-1",
              "authority_valid_until": until}, tok)
subj = "/C=RU/O=ООО Выдержка/OGRN=1027700000003/title=Директор/CN=Выдержкин Соак"
def sh(*args):
    subprocess.run(args, check=True, capture_output=True, cwd=work)
sh("openssl", "req", "-new", "-utf8", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
   "-keyout", "tech.key", "-subj", subj, "-out", "tech.csr")
_, tech = j("POST", f"/api/v1/admin/persons/{person['id']}/technological-certificate",
            {"csr_pem": open(f"{work}/tech.csr").read()}, tok)
open(f"{work}/tech.pem", "w").write(tech["certificate_pem"])
status_serial = tech["serial"]

lock = threading.Lock()
stats = {"status": [], "submit": [], "done": 0, "errors": 0, "error_samples": []}
issued = []
stop = time.monotonic() + minutes * 60

def record(kind, status, secs, ok):
    with lock:
        stats["done"] += 1
        if kind in ("status", "submit"):
            stats[kind].append(secs)
        if not ok:
            stats["errors"] += 1
            if len(stats["error_samples"]) < 5:
                stats["error_samples"].append(f"{kind} {status}")

def issuer(n):
    conn = http.client.HTTPConnection(host, timeout=30)
    d = f"{work}/i{n}"
    os.makedirs(d)
    while time.monotonic() < stop:
        subprocess.run(["openssl", "req", "-new", "-utf8", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", "/dev/null", "-subj", subj, "-outform", "DER", "-out", f"{d}/r.csr"],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-in", f"{d}/r.csr",
                        "-signer", f"{work}/tech.pem", "-inkey", f"{work}/tech.key", "-out", f"{d}/r.p7"],
                       check=True, capture_output=True)
        s, data, secs = call(conn, "POST", "/api/v1/requests", open(f"{d}/r.p7", "rb").read(),
                             ctype="application/pkcs7-mime")
        record("submit", s, secs, s == 202)
        if s == 202:
            serial = json.loads(data).get("certificate_serial")
            if serial:
                with lock:
                    issued.append(serial)

def reader(path_fn, kind):
    conn = http.client.HTTPConnection(host, timeout=30)
    while time.monotonic() < stop:
        s, _, secs = call(conn, "GET", path_fn())
        record(kind, s, secs, s == 200)

def lifecycle():
    global tok
    conn = http.client.HTTPConnection(host, timeout=30)
    # Operator sessions expire (SPEC §5): log in again well before, as an
    # operator would, so a long soak does not count the expiry as errors.
    logged_in = time.monotonic()
    while time.monotonic() < stop:
        time.sleep(0.5)
        if time.monotonic() - logged_in > 600:
            _, d, _ = call(conn, "POST", "/api/v1/admin/session",
                           json.dumps({"username": "admin", "password": "Soak1Password"}))
            tok, logged_in = json.loads(d)["token"], time.monotonic()
        with lock:
            if len(issued) < 3:
                continue
            serial = issued.pop(random.randrange(len(issued)))
        for action, body in (("suspend", {"days": 10, "document": "З-1"}), ("resume", {"document": "З-2"}),
                             ("revoke", {"reason": "key_compromise", "document": "З-3"})):
            s, data, secs = call(conn, "POST", f"/api/v1/admin/certificates/{serial}/{action}",
                                 json.dumps(body), tok)
            record(action, s, secs, s == 200)

threads = [threading.Thread(target=issuer, args=(i,)) for i in range(2)]
threads += [threading.Thread(target=reader, args=(lambda: f"/api/v1/certificates/{status_serial}", "status"))
            for _ in range(2)]
threads += [threading.Thread(target=reader, args=(lambda: "/api/v1/crl", "crl"))]
threads += [threading.Thread(target=lifecycle)]
for t in threads:
    t.start()
def p99(v):
    return sorted(v)[int(len(v) * 0.99)] * 1000 if v else float("nan")
print(f"{'minute':>6} {'rss MB':>7} {'status p99 ms':>14} {'submit p99 ms':>14} {'requests':>9} {'errors':>7}")
minute = 0
while time.monotonic() < stop:
    time.sleep(min(60, max(0.0, stop - time.monotonic())))
    minute += 1
    with lock:
        st, su, done, errors = stats["status"], stats["submit"], stats["done"], stats["errors"]
        stats["status"], stats["submit"], stats["done"], stats["errors"] = [], [], 0, 0
    rss = int(next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS"))) // 1024
    print(f"{minute:>6} {rss:>7} {p99(st):>14.2f} {p99(su):>14.2f} {done:>9} {errors:>7}", flush=True)
for t in threads:
    t.join()
if stats["error_samples"]:
    print("error samples:", stats["error_samples"])
PY
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
echo "== ca-api check on what the soak left"
target/release/ca-api check
