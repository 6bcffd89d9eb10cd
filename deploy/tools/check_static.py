#!/usr/bin/env python3
"""Cross-file consistency checks for deploy/ that need no running clickgate.

Each check compares two artefacts that must agree, so renaming a topic, a port, a bucket or a
mount path in one place without the other fails here:

  * Compose (resolved by composecheck): bind-mount sources exist; clickgate is built from
    deploy/Dockerfile and publishes the port it listens on; kafka-init creates exactly the
    topics (and partition counts) of compose/clickgate.toml plus Connect's internal topics;
    Prometheus mounts the alert rules where prometheus.yml loads them and scrapes clickgate.
  * Connect sink configs: valid JSON, `name` = file name, Aiven's S3 sink, topics that
    clickgate writes, raw topic copied byte for byte, processed topic as JSON lines,
    time-partitioned object names, the bucket minio-init creates, ${env:..} variables the
    worker has.
  * Kubernetes (rendered by kustomize): probes hit /healthz, /readyz through the named port
    `http`; the port matches the listen address of the mounted clickgate.toml; security
    context; grace period longer than preStop + shutdown_timeout; the ConfigMap and Secret the
    Deployment references exist (or are documented as external); HPA/PDB select the pods.
  * Dockerfile (parsed by BuildKit, via dockerfilecheck): multi-stage with cargo-chef, COPY
    --from existing stages, slim runtime with the libraries librdkafka links, non-root USER,
    EXPOSE of the same port, no HEALTHCHECK, config path used by the manifests, toolchain pinned
    like rust-toolchain.toml.
  * Grafana dashboard: unique panel ids, panels on the 24-column grid without overlaps, every
    query bound to the $datasource variable and using only defined variables.

usage: check_static.py --deploy DIR --compose-json FILE --base-json FILE --prod-json FILE
(the JSON files are composecheck's and yaml2json's output for the rendered manifests).
"""
import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

FAILURES = []

# Probe paths clickgate serves (contract: GET /healthz, GET /readyz); check_live.py confirms
# them against the running binary.
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
CONFIG_PATH = "/etc/clickgate/clickgate.toml"
AIVEN_S3_SINK = "io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector"
BYTE_ARRAY = "org.apache.kafka.connect.converters.ByteArrayConverter"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


def check(condition, message):
    if not condition:
        FAILURES.append(message)
    return condition


def duration_seconds(text):
    """humantime-style "20s", "1m", "500ms" -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*", text or "")
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def listen_port(listen):
    return int(str(listen).rsplit(":", 1)[1])


# ----------------------------------------------------------------------------- compose


def check_compose(deploy, project):
    compose_dir = deploy / "compose"
    services = project.get("services", {})
    for name in ("kafka", "kafka-init", "clickgate", "minio", "minio-init", "connect",
                 "connect-plugins", "connect-register", "prometheus"):
        check(name in services, f"compose: service {name!r} is missing")
    if not check("clickgate" in services, "compose: no clickgate service"):
        return {}

    for name, service in services.items():
        for volume in service.get("volumes", []) or []:
            if volume.get("type") == "bind":
                check(Path(volume["source"]).exists(),
                      f"compose: {name} mounts {volume['source']}, which does not exist")

    clickgate = services["clickgate"]
    build = clickgate.get("build") or {}
    repo_root = deploy.parent.resolve()
    check(Path(build.get("context", "")).resolve() == repo_root,
          f"compose: clickgate build context {build.get('context')!r} is not the repository root")
    check(build.get("dockerfile") == "deploy/Dockerfile",
          f"compose: clickgate builds from {build.get('dockerfile')!r}, not deploy/Dockerfile")

    config_mount = [v for v in clickgate.get("volumes", []) if v.get("target") == CONFIG_PATH]
    if not check(config_mount, f"compose: clickgate does not mount its config at {CONFIG_PATH}"):
        return {}
    config_file = Path(config_mount[0]["source"])
    config = tomllib.loads(config_file.read_text())
    env = clickgate.get("environment") or {}
    listen = env.get("CLICKGATE_LISTEN") or config.get("listen")
    port = listen_port(listen)
    published = [p for p in clickgate.get("ports", []) if int(p.get("target", 0)) == port]
    check(published, f"compose: clickgate listens on {port} but does not publish that port")
    check(config["kafka"].get("create_topics") is False,
          "compose: clickgate.toml must keep create_topics = false (kafka-init creates topics)")
    brokers = (env.get("CLICKGATE_KAFKA__BROKERS") or env.get("CLICKGATE_KAFKA_BROKERS")
               or config["kafka"]["brokers"])
    for broker in brokers.split(","):
        host = broker.split(":")[0]
        check(host in services, f"compose: clickgate's broker host {host!r} is not a service")

    # Topics: kafka-init must create what clickgate and Connect expect, with matching partitions.
    init_script = " ".join(services.get("kafka-init", {}).get("command") or [])
    created = {m.group(1): int(m.group(2)) for m in re.finditer(
        r"--topic\s+(\S+)\s+--partitions\s+(\d+)", init_script)}
    topics = config["kafka"]["topics"]
    for role in ("raw", "events", "dlq"):
        topic = topics[role]
        check(created.get(topic["name"]) == topic["partitions"],
              f"compose: kafka-init creates {topic['name']!r} with {created.get(topic['name'])} "
              f"partitions, clickgate.toml expects {topic['partitions']}")
    kafka_env = services.get("kafka", {}).get("environment") or {}
    check(str(kafka_env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE")).lower() == "false",
          "compose: the broker must not auto-create topics")

    worker = parse_properties(compose_dir / "connect" / "worker.properties")
    for key in ("config.storage.topic", "offset.storage.topic", "status.storage.topic"):
        check(worker.get(key) in created, f"compose: kafka-init does not create Connect's {key} "
              f"{worker.get(key)!r}")

    # Prometheus: rules mounted where prometheus.yml looks, clickgate scraped on its port.
    prom = services.get("prometheus", {})
    mounts = {v.get("target"): v.get("source") for v in prom.get("volumes", [])}
    alerts_src = (deploy / "prometheus" / "alerts.yml").resolve()
    rule_targets = [t for t, s in mounts.items() if s and Path(s).resolve() == alerts_src]
    check(rule_targets, "compose: prometheus does not mount deploy/prometheus/alerts.yml")
    prom_config = mounts.get("/etc/prometheus/prometheus.yml")
    return {"config": config, "created_topics": created, "services": services,
            "worker": worker, "rule_targets": rule_targets, "prom_config": prom_config,
            "port": port}


def parse_properties(path):
    props = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def check_prometheus_config(ctx, prom_json):
    """prom_json: yaml2json of deploy/compose/prometheus.yml."""
    prom = prom_json[0]
    rule_globs = prom.get("rule_files", [])
    for target in ctx.get("rule_targets", []):
        matched = any(Path(target).match(glob) for glob in rule_globs)
        check(matched, f"compose: prometheus.yml rule_files {rule_globs} do not load {target}")
    jobs = {job["job_name"]: job for job in prom.get("scrape_configs", [])}
    job = jobs.get("clickgate")
    if check(job, "compose: prometheus.yml has no `clickgate` scrape job (the alerts select job=\"clickgate\")"):
        targets = [t for sc in job.get("static_configs", []) for t in sc.get("targets", [])]
        check(f"clickgate:{ctx['port']}" in targets,
              f"compose: prometheus scrapes {targets}, not clickgate:{ctx['port']}")
        return job.get("metrics_path", "/metrics")
    return None


# ----------------------------------------------------------------------------- connect


def check_connectors(deploy, ctx):
    compose_dir = deploy / "compose"
    files = sorted((compose_dir / "connect" / "connectors").glob("*.json"))
    check(len(files) >= 2, "connect: expected sink configs for the raw and the processed topic")
    topics = ctx["config"]["kafka"]["topics"]
    raw_topic, events_topic = topics["raw"]["name"], topics["events"]["name"]
    clickgate_topics = {t["name"] for t in topics.values()}
    services = ctx["services"]
    connect_env = services.get("connect", {}).get("environment") or {}
    worker = ctx["worker"]
    minio_init = " ".join(services.get("minio-init", {}).get("command") or [])
    buckets = set(re.findall(r"mc mb (?:--ignore-existing )?local/([a-z0-9.-]+)", minio_init))
    seen_topics = set()

    for path in files:
        try:
            cfg = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            check(False, f"connect: {path.name} is not valid JSON: {err}")
            continue
        where = f"connect: {path.name}"
        check(all(isinstance(v, str) for v in cfg.values()),
              f"{where}: Connect configs are string to string; found non-string values")
        check(cfg.get("name") == path.stem, f"{where}: name {cfg.get('name')!r} != file name")
        check(cfg.get("connector.class") == AIVEN_S3_SINK, f"{where}: not Aiven's S3 sink")
        topic_list = [t.strip() for t in cfg.get("topics", "").split(",") if t.strip()]
        check(topic_list, f"{where}: no topics")
        for topic in topic_list:
            check(topic in clickgate_topics,
                  f"{where}: topic {topic!r} is not one clickgate writes ({sorted(clickgate_topics)})")
            check(topic in ctx["created_topics"], f"{where}: topic {topic!r} is not created by kafka-init")
            seen_topics.add(topic)
        template = cfg.get("file.name.template", "")
        for variable in ("{{topic}}", "{{partition", "{{start_offset"):
            check(variable in template, f"{where}: file.name.template lacks {variable}")
        for unit in ("yyyy", "MM", "dd", "HH"):
            check("{{timestamp:unit=%s}}" % unit in template,
                  f"{where}: file.name.template is not time-partitioned by {unit}")
        check(cfg.get("file.name.timestamp.timezone") == "UTC", f"{where}: partition paths not in UTC")
        check(cfg.get("aws.s3.bucket.name") in buckets,
              f"{where}: bucket {cfg.get('aws.s3.bucket.name')!r} is not created by minio-init {sorted(buckets)}")
        endpoint = cfg.get("aws.s3.endpoint", "")
        host = re.sub(r"^https?://", "", endpoint).split(":")[0].split("/")[0]
        check(host in services, f"{where}: S3 endpoint host {host!r} is not a compose service")
        for variable in re.findall(r"\$\{env:([A-Za-z0-9_]+)\}", json.dumps(cfg)):
            check(variable in connect_env, f"{where}: ${{env:{variable}}} is not set on the connect service")
            check(worker.get("config.providers") == "env",
                  f"{where}: uses ${{env:..}} but worker.properties enables no env config provider")
        if raw_topic in topic_list:
            # The raw topic is archived byte for byte: bytes in, the value alone, no encoding.
            check(cfg.get("value.converter") == BYTE_ARRAY, f"{where}: raw topic must use the ByteArrayConverter")
            check(cfg.get("format.output.fields") == "value", f"{where}: raw topic must write the value only")
            check(cfg.get("format.output.fields.value.encoding") == "none",
                  f"{where}: raw topic value must not be base64-encoded")
        if events_topic in topic_list:
            check(cfg.get("value.converter") == JSON_CONVERTER, f"{where}: processed topic must be read as JSON")
            check(cfg.get("value.converter.schemas.enable") == "false",
                  f"{where}: clickgate writes schemaless JSON; schemas.enable must be false")
            check(cfg.get("format.output.type") in ("jsonl", "json", "parquet"),
                  f"{where}: processed topic must be written as JSON (or Parquet)")
    check(raw_topic in seen_topics, f"connect: no sink archives the raw topic {raw_topic!r}")
    check(events_topic in seen_topics, f"connect: no sink archives the processed topic {events_topic!r}")

    plugins = services.get("connect-plugins", {})
    env = plugins.get("environment") or {}
    check(re.fullmatch(r"\d+\.\d+\.\d+", env.get("AIVEN_S3_VERSION", "") or ""),
          "connect: the Aiven S3 sink version must be pinned (AIVEN_S3_VERSION)")
    check(worker.get("plugin.path") and any(
        v.get("target") == worker["plugin.path"] for v in services.get("connect", {}).get("volumes", [])),
        "connect: plugin.path is not the volume connect-plugins fills")


# ----------------------------------------------------------------------------- kubernetes


def by_kind(docs):
    out = {}
    for doc in docs:
        out.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    return out


def check_k8s(label, docs, external_secrets):
    where = f"k8s {label}"
    objs = by_kind(docs)
    deployment = objs.get("Deployment", {}).get("clickgate")
    if not check(deployment, f"{where}: no Deployment clickgate"):
        return []
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    selector = spec["selector"]["matchLabels"]
    check(all(pod_labels.get(k) == v for k, v in selector.items()), f"{where}: selector does not match pod labels")

    containers = {c["name"]: c for c in pod["containers"]}
    container = containers.get("clickgate")
    if not check(container, f"{where}: no container named clickgate"):
        return []
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    check(ports.get("http") == 8080, f"{where}: container port `http` must be 8080, got {ports}")

    probes = {}
    for kind, path in (("livenessProbe", LIVENESS_PATH), ("readinessProbe", READINESS_PATH),
                       ("startupProbe", LIVENESS_PATH)):
        probe = container.get(kind)
        if not check(probe and "httpGet" in probe, f"{where}: {kind} must be an httpGet probe"):
            continue
        get = probe["httpGet"]
        check(get.get("path") == path, f"{where}: {kind} path {get.get('path')!r}, clickgate serves {path}")
        port = get.get("port")
        check(port in ports or port in ports.values(), f"{where}: {kind} port {port!r} is not a container port")
        probes[kind] = get.get("path")

    # Security context, pod and container level.
    psc, csc = pod.get("securityContext", {}), container.get("securityContext", {})
    check(psc.get("runAsNonRoot") or csc.get("runAsNonRoot"), f"{where}: runAsNonRoot not set")
    check(csc.get("readOnlyRootFilesystem") is True, f"{where}: root filesystem not read-only")
    check(csc.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation allowed")
    check(csc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities not dropped")
    check((psc.get("seccompProfile") or csc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
          f"{where}: seccomp profile is not RuntimeDefault")
    check(pod.get("automountServiceAccountToken") is False, f"{where}: service account token mounted")
    sa = objs.get("ServiceAccount", {}).get(pod.get("serviceAccountName"))
    check(sa and sa.get("automountServiceAccountToken") is False,
          f"{where}: ServiceAccount {pod.get('serviceAccountName')!r} missing or automounts its token")

    # Config: the ConfigMap the pod mounts exists and holds a clickgate.toml listening on `http`.
    mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    config = None
    for name, mount in mounts.items():
        if Path(CONFIG_PATH).parent == Path(mount["mountPath"]) and "configMap" in volumes.get(name, {}):
            cm = objs.get("ConfigMap", {}).get(volumes[name]["configMap"]["name"])
            if check(cm, f"{where}: ConfigMap {volumes[name]['configMap']['name']} is not rendered"):
                text = cm["data"].get(Path(CONFIG_PATH).name)
                if check(text, f"{where}: ConfigMap has no {Path(CONFIG_PATH).name}"):
                    config = tomllib.loads(text)
    check(config is not None, f"{where}: nothing mounts a ConfigMap at {Path(CONFIG_PATH).parent}")
    check(CONFIG_PATH in container.get("args", []) or CONFIG_PATH in json.dumps(container.get("env", [])),
          f"{where}: clickgate is not pointed at {CONFIG_PATH}")
    env = {e["name"]: e for e in container.get("env", [])}
    listen = env.get("CLICKGATE_LISTEN", {}).get("value") or (config or {}).get("listen")
    check(listen and listen_port(listen) == ports.get("http"),
          f"{where}: clickgate listens on {listen!r}, container port http is {ports.get('http')}")
    check(readonly_mounts(mounts), f"{where}: config mount must be read-only")

    for name, entry in env.items():
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            secret = objs.get("Secret", {}).get(ref["name"])
            if secret is None:
                check(ref["name"] in external_secrets,
                      f"{where}: env {name} needs Secret {ref['name']!r}, which is neither rendered nor documented as external")
            else:
                data = {**secret.get("data", {}), **secret.get("stringData", {})}
                check(ref["key"] in data, f"{where}: Secret {ref['name']} has no key {ref['key']!r} for {name}")

    # Graceful shutdown: preStop sleep + shutdown_timeout must fit in the grace period.
    grace = pod.get("terminationGracePeriodSeconds", 30)
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    sleep = 0
    if "exec" in pre_stop:
        cmd = pre_stop["exec"]["command"]
        if len(cmd) == 2 and cmd[0].endswith("sleep"):
            sleep = int(cmd[1])
    elif "sleep" in pre_stop:
        sleep = pre_stop["sleep"]["seconds"]
    check(sleep > 0, f"{where}: no preStop sleep to let endpoints drain before SIGTERM")
    shutdown = duration_seconds((config or {}).get("shutdown_timeout", "10s"))
    check(shutdown is not None and grace > sleep + shutdown,
          f"{where}: terminationGracePeriodSeconds {grace} <= preStop {sleep}s + shutdown_timeout {shutdown}s")

    if config:
        check(config["kafka"].get("create_topics") is False,
              f"{where}: create_topics must stay false in clusters (topics are provisioned)")

    res = container.get("resources", {})
    for part in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            check(resource in res.get(part, {}), f"{where}: resources.{part}.{resource} not set")

    service = objs.get("Service", {}).get("clickgate")
    if check(service, f"{where}: no Service clickgate"):
        check(all(pod_labels.get(k) == v for k, v in service["spec"]["selector"].items()),
              f"{where}: Service selector does not match the pods")
        check(any(p.get("targetPort") in ("http", 8080) for p in service["spec"]["ports"]),
              f"{where}: Service does not target the http port")
    hpa = objs.get("HorizontalPodAutoscaler", {}).get("clickgate")
    if check(hpa, f"{where}: no HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        check(ref["kind"] == "Deployment" and ref["name"] == "clickgate", f"{where}: HPA targets {ref}")
        check(any(m.get("resource", {}).get("name") == "cpu" for m in hpa["spec"]["metrics"]),
              f"{where}: HPA does not scale on CPU")
        check(hpa["spec"]["minReplicas"] <= spec.get("replicas", 1) <= hpa["spec"]["maxReplicas"],
              f"{where}: Deployment replicas outside the HPA range")
        check(hpa["spec"]["minReplicas"] >= 2, f"{where}: HPA minReplicas < 2 leaves no redundancy")
    pdb = objs.get("PodDisruptionBudget", {}).get("clickgate")
    if check(pdb, f"{where}: no PodDisruptionBudget"):
        check(all(pod_labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items()),
              f"{where}: PDB selector does not match the pods")
    netpol = objs.get("NetworkPolicy", {}).get("clickgate")
    if check(netpol, f"{where}: no NetworkPolicy"):
        np_spec = netpol["spec"]
        check(set(np_spec.get("policyTypes", [])) == {"Ingress", "Egress"},
              f"{where}: NetworkPolicy must restrict both ingress and egress")
        ingress_ports = {p.get("port") for rule in np_spec.get("ingress", []) for p in rule.get("ports", [])}
        check(ingress_ports & {8080, "http"}, f"{where}: NetworkPolicy does not admit the http port")
        egress_ports = {p.get("port") for rule in np_spec.get("egress", []) for p in rule.get("ports", [])}
        check(53 in egress_ports, f"{where}: NetworkPolicy blocks DNS")
        if config:
            broker_ports = {int(b.rsplit(":", 1)[1]) for b in config["kafka"]["brokers"].split(",")}
            check(broker_ports <= egress_ports,
                  f"{where}: NetworkPolicy egress ports {sorted(egress_ports)} miss the brokers' {sorted(broker_ports)}")
    annotations = spec["template"]["metadata"].get("annotations", {})
    check(annotations.get("prometheus.io/port") == str(ports.get("http")),
          f"{where}: prometheus.io/port annotation does not match the http port")
    return [("k8s " + label + " " + kind, path) for kind, path in probes.items()] + [
        ("k8s " + label + " prometheus.io/path", annotations.get("prometheus.io/path"))]


def readonly_mounts(mounts):
    return all(m.get("readOnly") for m in mounts.values() if m["mountPath"] == str(Path(CONFIG_PATH).parent))


# ----------------------------------------------------------------------------- Dockerfile


def check_dockerfile(deploy, parsed):
    """parsed: dockerfilecheck's JSON (BuildKit's parser: stages, commands, ARG defaults)."""
    stages = parsed["stages"]
    names = [st["name"] for st in stages]
    check(len(stages) >= 3, "Dockerfile: expected a multi-stage build")
    runs = " ".join(c["code"] for st in stages for c in st["commands"] if c["name"] == "RUN")
    check("cargo chef prepare" in runs and "cargo chef cook" in runs, "Dockerfile: no cargo-chef dependency layer")
    check("cargo build --release" in runs, "Dockerfile: not a release build")
    for st in stages:
        for cmd in st["commands"]:
            if cmd["name"] == "COPY" and cmd.get("from"):
                check(cmd["from"] in names[: names.index(st["name"])],
                      f"Dockerfile: stage {st['name']} copies from unknown stage {cmd['from']!r}")
    final = stages[-1]
    commands = final["commands"]
    base = final["base"]
    for arg, value in parsed["args"].items():
        base = base.replace("${%s}" % arg, value)
    check(re.search(r"-slim$", base) or "distroless" in base, f"Dockerfile: runtime base {base!r} is not slim")
    check(not any(c["name"] == "HEALTHCHECK" for st in stages for c in st["commands"]),
          "Dockerfile: HEALTHCHECK present (orchestrators probe /healthz and /readyz)")
    users = [c["user"] for c in commands if c["name"] == "USER"]
    check(users and users[-1].split(":")[0] not in ("0", "root"), "Dockerfile: final stage runs as root")
    env = {k: v for c in commands if c["name"] == "ENV" for k, v in c["env"].items()}
    check(env.get("CLICKGATE_CONFIG") == CONFIG_PATH, f"Dockerfile: CLICKGATE_CONFIG is not {CONFIG_PATH}")
    exposed = [p for c in commands if c["name"] == "EXPOSE" for p in c["ports"]]
    listen = env.get("CLICKGATE_LISTEN", "")
    check(exposed == ["8080"] and listen.endswith(":8080"),
          f"Dockerfile: EXPOSE {exposed} / CLICKGATE_LISTEN {listen!r}; clickgate's container port is 8080")
    installs = " ".join(c["code"] for c in commands if c["name"] == "RUN")
    for lib in ("libssl3", "zlib1g", "ca-certificates"):
        check(lib in installs, f"Dockerfile: runtime stage does not install {lib} (librdkafka links it)")
    toolchain = deploy.parent / "rust-toolchain.toml"
    if toolchain.exists():
        channel = tomllib.loads(toolchain.read_text())["toolchain"]["channel"]
        check(parsed["args"].get("RUST_VERSION") == channel,
              f"Dockerfile: RUST_VERSION {parsed['args'].get('RUST_VERSION')} != rust-toolchain.toml {channel}")
    dockerignore = deploy.parent / ".dockerignore"
    if check(dockerignore.exists(), ".dockerignore missing at the repository root"):
        ignored = {l.strip() for l in dockerignore.read_text().splitlines()}
        for needed in ("Cargo.toml", "Cargo.lock", "src", "*", "**"):
            check(needed not in ignored, f".dockerignore excludes {needed}, which the build needs")
        check({"**/target", "target", "/target"} & ignored, ".dockerignore must exclude target/")


# ----------------------------------------------------------------------------- Grafana


def check_dashboard(path):
    """Structure only; the queries are checked against a live clickgate by check_live.py."""
    where = f"dashboard {path.name}"
    dash = json.loads(path.read_text())
    check(dash.get("uid") and dash.get("title"), f"{where}: needs a uid and a title")
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    check("datasource" in variables, f"{where}: no datasource variable (the dashboard would be tied to one UID)")
    panels = []

    def walk(items):
        for panel in items:
            panels.append(panel)
            walk(panel.get("panels", []))

    walk(dash.get("panels", []))
    ids = [p.get("id") for p in panels]
    check(len(ids) == len(set(ids)), f"{where}: duplicate panel ids")
    cells, overlaps = {}, set()
    for panel in panels:
        title = panel.get("title", "?")
        grid = panel.get("gridPos", {})
        check(grid.get("x", 0) + grid.get("w", 0) <= 24, f"{where}: panel {title!r} is wider than the grid")
        for x in range(grid.get("x", 0), grid.get("x", 0) + grid.get("w", 0)):
            for y in range(grid.get("y", 0), grid.get("y", 0) + grid.get("h", 0)):
                if (x, y) in cells:
                    overlaps.add((cells[(x, y)], title))
                cells[(x, y)] = title
        if panel.get("type") == "row":
            continue
        check(panel.get("targets"), f"{where}: panel {title!r} has no query")
        for target in panel.get("targets", []):
            used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", target.get("expr", "")))
            used = {u for u in used if not u.startswith("__")}
            check(used <= variables, f"{where}: panel {title!r} uses undefined variables {sorted(used - variables)}")
            ds = (target.get("datasource") or panel.get("datasource") or {}).get("uid")
            check(ds == "${datasource}", f"{where}: panel {title!r} is not bound to the $datasource variable")
    for first, second in sorted(overlaps):
        check(False, f"{where}: panels {first!r} and {second!r} overlap")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--deploy", required=True, type=Path)
    parser.add_argument("--compose-json", required=True, type=Path)
    parser.add_argument("--prometheus-json", required=True, type=Path)
    parser.add_argument("--base-json", required=True, type=Path)
    parser.add_argument("--prod-json", required=True, type=Path)
    parser.add_argument("--dockerfile-json", required=True, type=Path)
    parser.add_argument("--probes-out", required=True, type=Path,
                        help="write the probe/metrics paths found, for check_live.py")
    args = parser.parse_args()
    deploy = args.deploy.resolve()

    ctx = check_compose(deploy, json.loads(args.compose_json.read_text()))
    paths = []
    if ctx:
        metrics_path = check_prometheus_config(ctx, json.loads(args.prometheus_json.read_text()))
        paths.append(("compose prometheus.yml metrics_path", metrics_path))
        check_connectors(deploy, ctx)
    paths += check_k8s("base", json.loads(args.base_json.read_text()), external_secrets=set())
    paths += check_k8s("production", json.loads(args.prod_json.read_text()),
                       external_secrets={"clickgate-credentials"})
    check_dockerfile(deploy, json.loads(args.dockerfile_json.read_text()))
    for dashboard in sorted((deploy / "grafana").glob("*.json")):
        check_dashboard(dashboard)
    args.probes_out.write_text(json.dumps(paths, indent=1))

    if FAILURES:
        for failure in FAILURES:
            print(f"FAIL  {failure}")
        print(f"check_static: {len(FAILURES)} problem(s)")
        sys.exit(1)
    print("check_static: compose, connect sinks, kubernetes, Dockerfile and dashboard agree "
          f"({len(paths)} probe/metrics paths handed to the live check)")


if __name__ == "__main__":
    main()
