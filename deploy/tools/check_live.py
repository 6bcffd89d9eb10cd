#!/usr/bin/env python3
"""Checks deploy/ against a running clickgate: metric names, label names and probe paths.

Starts `clickgate --dev --listen 127.0.0.1:0`, reads the address from its JSON `listening` log
line, sends a little traffic (a valid batch with one bad event, an unparseable body, an unknown
key, a pixel) so that counters with labels exist, then:

  * every series selector in the Grafana dashboard and in the Prometheus alert rules (parsed
    with Prometheus' PromQL parser, via promqlnames) names a metric that /metrics exports
    (a histogram `x` exports x_bucket / x_sum / x_count), or `up`, which Prometheus adds;
  * every label those selectors match on exists on that metric's live series;
  * `clickgate --check-config` accepts each config file this directory ships, with exactly the
    CLICKGATE_* environment the Compose service or the Kubernetes container gives it (Secret
    values resolved from the rendered Secret, or from the production example Secret), and
    librdkafka accepts its [kafka.producer] properties (a --dev start with the same file);
  * the probe and metrics paths found in the manifests (check_static.py's --probes-out) answer:
    liveness paths 200, readiness paths 200 or 503 (never 404), metrics paths 200 with
    clickgate_ series; an unknown path answers 404, so a renamed route cannot pass by accident.

Metrics that the contract only promises for conditions this run cannot produce (see
CONDITIONAL) may be absent from /metrics, but must then still be declared in src/telemetry.rs,
so a rename in the source still fails here.

usage: check_live.py --bin CLICKGATE --promqlnames TOOL --dashboard JSON --alerts-json JSON
                     --paths JSON [--src-telemetry src/telemetry.rs]
"""
import argparse
import base64
import json
import os
import queue
import tempfile
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

FAILURES = []
NOTES = []  # printed once each, in order

# Series Prometheus itself attaches to every scrape target.
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Labels Prometheus adds at scrape time (and `le` on histogram buckets, exported by clickgate).
TARGET_LABELS = {"job", "instance"}
# Contract metrics that exist only once their condition happens; a short --dev run with a mock
# Kafka and no geo database cannot provoke them. They must still be declared in the source.
CONDITIONAL = {
    "clickgate_geo_database_age_seconds": "needs a geo database to be configured",
    "clickgate_enrichment_failures_total": "needs an enrichment failure",
    "clickgate_kafka_delivery_errors_total": "needs a failed Kafka delivery",
    "clickgate_requests_shed_total": "needs load shedding (503)",
    "clickgate_rate_limited_total": "needs a rate limit to trip (429)",
    "clickgate_duplicates_dropped_total": "needs a duplicate messageId",
    "clickgate_hot_visitor_rekeyed_total": "needs a hot visitor",
    "clickgate_kafka_produce_duration_seconds": "needs a Kafka produce",
    "clickgate_clock_skew_seconds": "needs an event with a client timestamp",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def check(condition, message):
    if not condition:
        FAILURES.append(message)
    return condition


# ----------------------------------------------------------------------------- clickgate process


def clean_env(extra=None):
    """This process's environment without CLICKGATE_* (the test command exports its own, which
    clickgate would read as settings), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLICKGATE_")}
    env.update(extra or {})
    return env


class Clickgate:
    def __init__(self, binary):
        self.proc = subprocess.Popen(
            [binary, "--dev", "--listen", "127.0.0.1:0"], env=clean_env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.log = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.addr = self._wait_listening(timeout=30)

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.log.append(line.rstrip())
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            fields = record.get("fields", record)
            if "listening" in (record.get("message"), fields.get("message")):
                return fields.get("addr") or record.get("addr")
        self.stop()
        sys.exit("check_live: clickgate did not log a `listening` line with an addr within "
                 f"{timeout}s; its output:\n" + "\n".join(self.log[-30:]))

    def server_key(self):
        """The server write key --dev prints in its start-up banner, if it prints one."""
        for line in self.log:
            match = re.search(r"server key:\s*(\S+)", line)
            if match:
                return match.group(1)
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def request(addr, method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://{addr}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def basic(key):
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def send_traffic(addr, key):
    """Enough requests for the labelled counters to exist; returns the statuses seen."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    batch = {"batch": [
        {"type": "track", "event": "Deploy Check", "anonymousId": "deploy-check-visitor",
         "messageId": "deploy-check-1", "timestamp": now, "properties": {"ok": True}},
        {"type": "track", "event": "No Identity"},  # rejected: neither anonymousId nor userId
    ], "sentAt": now}
    json_headers = {"Content-Type": "application/json", "Authorization": basic(key)}
    statuses = {}
    statuses["valid batch"] = request(addr, "POST", "/v1/batch", json.dumps(batch).encode(), json_headers)[0]
    statuses["duplicate"] = request(addr, "POST", "/v1/batch", json.dumps(batch).encode(), json_headers)[0]
    statuses["unparseable"] = request(addr, "POST", "/v1/batch", b"{not json", json_headers)[0]
    statuses["unknown key"] = request(addr, "POST", "/v1/batch", json.dumps(batch).encode(),
                                      {"Content-Type": "application/json", "Authorization": basic("no-such-key")})[0]
    statuses["pixel"] = request(addr, "GET", f"/v1/pixel.gif?writeKey={key}&type=track&event=px&anonymousId=a1")[0]
    time.sleep(0.5)  # deliveries to the mock cluster are acknowledged asynchronously
    return statuses


def dev_write_key(readme):
    """The dev key documented in the README (`dev-key` if it names none)."""
    if readme.exists():
        text = readme.read_text()
        for pattern in (r"--dev[^\n]*?`([A-Za-z0-9_\-]+)`", r"write key[^\n]*?`([A-Za-z0-9_\-]*dev[A-Za-z0-9_\-]*)`"):
            match = re.search(pattern, text, re.IGNORECASE)
            if match and match.group(1) != "--dev":
                return match.group(1)
    return "dev-key"


# ----------------------------------------------------------------------------- /metrics


def parse_exposition(text):
    """-> (sample name -> set of label names, family names from # TYPE/# HELP)."""
    samples, families = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE ") or line.startswith("# HELP "):
            families.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s", line)
        if not match:
            continue
        labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', match.group(3) or ""))
        samples.setdefault(match.group(1), set()).update(labels)
    return samples, families


# ----------------------------------------------------------------------------- PromQL


def dashboard_queries(dashboard):
    out = []

    def walk(panels, prefix=""):
        for panel in panels:
            title = prefix + panel.get("title", "?")
            for target in panel.get("targets", []):
                if target.get("expr"):
                    out.append((f"dashboard panel {title!r} {target.get('refId', '')}", target["expr"]))
            walk(panel.get("panels", []), title + " / ")

    walk(dashboard.get("panels", []))
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        if var.get("type") == "query" and isinstance(text, str):
            # label_values(<selector>, label) / query_result(<expr>): check the selector inside.
            match = re.match(r"\s*(?:label_values|query_result)\((.*?)(?:,\s*[a-zA-Z_]+)?\)\s*$", text)
            if match:
                out.append((f"dashboard variable ${var['name']}", match.group(1)))
    return out


def grafana_to_promql(expr):
    """Replace Grafana's template variables with values PromQL accepts."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)
    expr = re.sub(r"\$\{?__[a-z_]+\}?", "1", expr)
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?", ".*", expr)


def alert_queries(alerts_docs):
    out = []
    for doc in alerts_docs:
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record")
                out.append((f"alert rule {name}", rule["expr"]))
    return out


def selectors(promqlnames, queries):
    payload = "".join(json.dumps({"where": w, "expr": e}) + "\n" for w, e in queries)
    proc = subprocess.run([promqlnames], input=payload, capture_output=True, text=True)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode not in (0, 1) or len(results) != len(queries):
        sys.exit(f"check_live: promqlnames failed: {proc.stderr}")
    return results


def note(text):
    if text not in NOTES:
        NOTES.append(text)


def read_pending(path):
    if not path or not path.exists():
        return set()
    return {line.split("#")[0].strip() for line in path.read_text().splitlines()} - {""}


def check_selectors(results, samples, families, declared, pending):
    used = set()
    for result in results:
        where = result["where"]
        if not check("error" not in result, f"{where}: PromQL does not parse: {result.get('error')}"):
            continue
        check(result.get("selectors"), f"{where}: selects no series")
        for sel in result.get("selectors", []):
            name = sel["name"]
            if not check(name, f"{where}: a selector without a metric name"):
                continue
            if name in PROMETHEUS_SYNTHETIC:
                continue
            used.add(name)
            if name in samples:
                have = samples[name] | TARGET_LABELS
                for m in sel.get("matchers") or []:
                    check(m["label"] in have,
                          f"{where}: {name} has no label {m['label']!r} (live labels: {sorted(samples[name])})")
                continue
            family = family_of(name)
            if family in pending and family not in declared and family not in families:
                note(f"{name}: PENDING — a contract name clickgate does not declare yet "
                     "(deploy/tools/pending-metrics.txt)")
                continue
            if family in CONDITIONAL:
                declared_ok = family in declared
                if check(declared_ok, f"{where}: {name} is neither exported live nor declared in "
                                      "src/telemetry.rs (renamed?)"):
                    if family in families:
                        note(f"{name}: family declared live, no samples yet ({CONDITIONAL[family]})")
                    else:
                        note(f"{name}: not exported by this run ({CONDITIONAL[family]}); "
                             "declared in src/telemetry.rs")
                continue
            live = sorted(n for n in samples if n.startswith("clickgate_"))
            check(False, f"{where}: {name} is not exported by clickgate (live: {', '.join(live)})")
    return used


def scrape_until_complete(addr, results, settle=6.0):
    """Scrape /metrics until every metric the queries name is there, or `settle` seconds pass:
    some gauges are refreshed by a periodic task (kafka.health_interval, 2 s by default)."""
    wanted = {sel["name"] for r in results for sel in r.get("selectors", [])} - PROMETHEUS_SYNTHETIC
    deadline = time.monotonic() + settle
    while True:
        status, _, body = request(addr, "GET", "/metrics")
        check(status == 200, f"GET /metrics -> {status}")
        samples, families = parse_exposition(body.decode())
        missing = wanted - set(samples)
        if not missing or time.monotonic() > deadline or status != 200:
            return samples, families
        time.sleep(0.5)


def family_of(name):
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in CONDITIONAL:
            return name[: -len(suffix)]
    return name


def declared_metric_names(telemetry_rs):
    if not telemetry_rs or not telemetry_rs.exists():
        return set()
    return set(re.findall(r'"(clickgate_[a-z0-9_]+)"', telemetry_rs.read_text()))


# ----------------------------------------------------------------------------- config files

CONFIG_PATH = "/etc/clickgate/clickgate.toml"


def check_config(binary, where, config_text, env, args=()):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as handle:
        handle.write(config_text)
        path = handle.name
    try:
        args = [path if a == CONFIG_PATH else a for a in args]
        if path not in args:
            args = ["--config", path, *args]
        env = {k: v for k, v in env.items() if k != "CLICKGATE_CONFIG"}
        proc = subprocess.run([binary, "--check-config", *args], env=clean_env(env),
                              capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(path)
    output = (proc.stdout + proc.stderr).strip()
    if check(proc.returncode == 0, f"{where}: clickgate --check-config rejects it: {output}"):
        print(f"  valid  {where} (env: {', '.join(sorted(env)) or 'none'})")
        check_librdkafka_properties(binary, where, config_text, env)


LIBRDKAFKA_CONFIG_ERROR = re.compile(
    r"Client config error|No such configuration property|Unsupported value|Invalid value|"
    r"configuration error|failed to start")


SECURITY_PROPERTY = re.compile(r'^\s*"(security|sasl|ssl)\.[^"]*"\s*=', re.MULTILINE)


def check_librdkafka_properties(binary, where, config_text, env):
    """--check-config does not consult librdkafka. Start the config in --dev mode (brokers
    replaced by the in-process mock cluster, [kafka.producer] kept) and watch librdkafka's
    verdict. The mock speaks plaintext: with TLS/SASL settings clickgate's admin client gets
    them (and rejects bad ones at once) but then waits for a handshake that never comes, so the
    producer-only properties are checked by a second start with the security lines removed."""
    if SECURITY_PROPERTY.search(config_text):
        run_dev(binary, where + " (security properties)", config_text, env, need_listening=False)
        plain = SECURITY_PROPERTY.sub("# (removed for the plaintext mock)\n#", config_text)
        plain_env = {k: v for k, v in env.items() if k != "CLICKGATE_KAFKA__PRODUCER"}
        run_dev(binary, where + " (other producer properties)", plain, plain_env, need_listening=True)
    else:
        run_dev(binary, where, config_text, env, need_listening=True)


def run_dev(binary, where, config_text, env, need_listening, wait=4.0):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as handle:
        handle.write(config_text)
        path = handle.name
    env = {k: v for k, v in env.items() if k not in ("CLICKGATE_CONFIG", "CLICKGATE_LISTEN")}
    proc = subprocess.Popen([binary, "--dev", "--config", path, "--listen", "127.0.0.1:0"],
                            env=clean_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    lines, outcome = queue.Queue(), "no config error"

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            if LIBRDKAFKA_CONFIG_ERROR.search(line):
                check(False, f"{where}: librdkafka/clickgate rejects it in --dev: {line.strip()}")
                return
            if '"listening"' in line:
                outcome = "started"
                break
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.unlink(path)
    if need_listening and outcome != "started":
        check(False, f"{where}: clickgate --dev with this config did not start within {wait}s")
        return
    print(f"  ok     {where}: librdkafka accepts [kafka.producer] ({outcome} in --dev)")


def secret_values(secret):
    values = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    values.update(secret.get("stringData") or {})
    return values


def check_configs(binary, compose, k8s, example_secrets):
    clickgate = compose["services"]["clickgate"]
    mount = next(v for v in clickgate["volumes"] if v.get("target") == CONFIG_PATH)
    env = {k: v for k, v in (clickgate.get("environment") or {}).items() if k.startswith("CLICKGATE_")}
    check_config(binary, "compose clickgate.toml", Path(mount["source"]).read_text(), env)

    for label, docs in k8s.items():
        objs = {(d["kind"], d["metadata"]["name"]): d for d in docs}
        secrets = {name: secret_values(d) for (kind, name), d in objs.items() if kind == "Secret"}
        for name, d in example_secrets.items():
            secrets.setdefault(name, secret_values(d))
        deployment = objs[("Deployment", "clickgate")]
        pod = deployment["spec"]["template"]["spec"]
        container = next(c for c in pod["containers"] if c["name"] == "clickgate")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        config_map = None
        for mount in container.get("volumeMounts", []):
            if mount["mountPath"] == str(Path(CONFIG_PATH).parent):
                config_map = volumes[mount["name"]]["configMap"]["name"]
        text = objs[("ConfigMap", config_map)]["data"][Path(CONFIG_PATH).name]
        env = {}
        for entry in container.get("env", []):
            if "value" in entry:
                env[entry["name"]] = entry["value"]
            else:
                ref = entry["valueFrom"]["secretKeyRef"]
                value = secrets.get(ref["name"], {}).get(ref["key"])
                if check(value is not None, f"k8s {label}: no value for {entry['name']} "
                                            f"(Secret {ref['name']} key {ref['key']})"):
                    env[entry["name"]] = value
        check_config(binary, f"k8s {label} ConfigMap {config_map}", text, env, container.get("args", []))


# ----------------------------------------------------------------------------- probes


def check_paths(addr, paths):
    status, _, _ = request(addr, "GET", "/deploy-check-no-such-route")
    check(status == 404, f"an unknown path answers {status}, not 404: path checks would prove nothing")
    for where, path in paths:
        if not check(path, f"{where}: no path"):
            continue
        status, headers, body = request(addr, "GET", path)
        if "liveness" in where or "startup" in where:
            check(status == 200, f"{where}: GET {path} -> {status}, a liveness/startup probe needs 200")
        elif "readiness" in where:
            check(status in (200, 503), f"{where}: GET {path} -> {status}, readiness answers 200 or 503")
        else:
            check(status == 200 and b"clickgate_" in body,
                  f"{where}: GET {path} -> {status}, expected clickgate's Prometheus metrics")
        print(f"  {status}  GET {path:<10} ({where})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--promqlnames", required=True)
    parser.add_argument("--dashboard", required=True, type=Path)
    parser.add_argument("--alerts-json", required=True, type=Path)
    parser.add_argument("--paths", required=True, type=Path)
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--src-telemetry", type=Path, default=Path("src/telemetry.rs"))
    parser.add_argument("--pending", type=Path, default=Path(__file__).with_name("pending-metrics.txt"))
    parser.add_argument("--compose-json", required=True, type=Path)
    parser.add_argument("--k8s-json", action="append", default=[],
                        help="LABEL=FILE: rendered manifests (yaml2json) to check configs of")
    parser.add_argument("--example-secret-json", type=Path,
                        help="yaml2json of the production overlay's example Secret")
    args = parser.parse_args()

    k8s = {}
    for item in args.k8s_json:
        label, path = item.split("=", 1)
        k8s[label] = json.loads(Path(path).read_text())
    examples = {}
    if args.example_secret_json:
        for doc in json.loads(args.example_secret_json.read_text()):
            examples[doc["metadata"]["name"]] = doc
    check_configs(args.bin, json.loads(args.compose_json.read_text()), k8s, examples)

    queries = dashboard_queries(json.loads(args.dashboard.read_text()))
    dashboard_count = len(queries)
    queries += alert_queries(json.loads(args.alerts_json.read_text()))
    queries = [(where, grafana_to_promql(expr)) for where, expr in queries]
    results = selectors(args.promqlnames, queries)

    app = Clickgate(args.bin)
    try:
        print(f"clickgate --dev listening on {app.addr}")
        key = app.server_key() or dev_write_key(args.readme)
        statuses = send_traffic(app.addr, key)
        print("  traffic: " + ", ".join(f"{k} {v}" for k, v in statuses.items()))
        check(statuses["valid batch"] == 200,
              f"POST /v1/batch with the dev key {key!r} -> {statuses['valid batch']}, expected 200")
        check(statuses["unknown key"] == 401, f"unknown write key -> {statuses['unknown key']}, expected 401")
        check_paths(app.addr, json.loads(args.paths.read_text()))
        samples, families = scrape_until_complete(app.addr, results)
    finally:
        app.stop()

    live = sorted(n for n in samples if n.startswith("clickgate_"))
    print(f"  /metrics: {len(live)} clickgate_ series names")
    declared = declared_metric_names(args.src_telemetry)
    pending = read_pending(args.pending)
    used = check_selectors(results, samples, families, declared, pending)
    def base(name):
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name[: -len(suffix)] in families:
                return name[: -len(suffix)]
        return name

    exported = {base(n) for n in samples}
    unused = sorted({base(n) for n in live} - {base(n) for n in used})
    for name in sorted(pending & (declared | exported | families)):
        note(f"{name} is declared or exported now: delete it from deploy/tools/pending-metrics.txt")
    if unused:
        note("exported but on no panel or alert: " + ", ".join(unused))
    for text in NOTES:
        print(f"  note: {text}")
    if FAILURES:
        for failure in FAILURES:
            print(f"FAIL  {failure}")
        print(f"check_live: {len(FAILURES)} problem(s)")
        sys.exit(1)
    print(f"check_live: {dashboard_count} dashboard and {len(queries) - dashboard_count} alert "
          f"queries use only exported metrics and labels; {len(json.loads(args.paths.read_text()))} "
          "probe/metrics paths answer")


if __name__ == "__main__":
    main()
