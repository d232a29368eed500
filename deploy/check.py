#!/usr/bin/env python3
"""Offline checks of longshot's deployment files (run by deploy/check.sh; needs PyYAML).

- every YAML and JSON file under deploy/ and the compose files parse;
- the environment variables that docker-compose*.yml and the Helm chart give a service are ones the
  service reads: its services/<name>/src/config.ts, the library configs it spreads (`...busConfig`) and
  the variables the libraries it depends on read directly. A variable defined only by a library config
  the service does not spread yet, by a sibling service, or listed in deploy/planned-env.txt is a
  warning; anything else is an error;
- the pieces agree with each other: NATS users and password variables (accounts.conf, compose), MinIO
  users, policies and secret variables (init.sh, policies/*.json, compose), bucket and lifecycle, gRPC
  ports (config.ts defaults), the gateway's HTTP API port (its httpPort default; published, container and
  Service port), metrics port (Prometheus), certificate files (gen-dev-certs.sh), JetStream
  consumer names (libs/bus) in the KEDA ScaledObjects, the model pack mounted read-only;
- compose: GPU reservations on the model services in docker-compose.yml and removed by the CPU
  override, interpolation scalable (no container_name, no host ports), pinned image tags;
- Helm: templates rendered with deploy/helm/render (Go text/template + Sprig, as Helm) when Go and
  Debian's Sprig are installed, with the rendered objects checked; otherwise only block balance.

Usage: deploy/check.py [--render-cmd CMD]   (exit 1 when a check fails)
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - reported to the user
    sys.exit("deploy/check.py: PyYAML is required (models/.venv has it; or apt-get install python3-yaml)")

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
APP_SERVICES = ["gateway", "keyframe", "interpolation", "decoder"]
MODEL_SERVICES = ["keyframe", "interpolation", "decoder"]
# Variables of the image itself (deploy/docker/start.mjs, Node).
IMAGE_ENV = {"SERVICE", "NODE_ENV", "NODE_OPTIONS", "TZ"}

errors: list[str] = []
warnings: list[str] = []
# (service, why) -> (variable names, where): printed as one warning line each.
pending: dict[tuple[str, str], tuple[set[str], set[str]]] = {}


def note_pending(where: str, svc: str, why: str, name: str) -> None:
    names, wheres = pending.setdefault((svc, why), (set(), set()))
    names.add(name)
    wheres.add(where.split(" (", 1)[0])
passed = 0


def ok(cond: bool, message: str) -> bool:
    global passed
    if cond:
        passed += 1
    else:
        errors.append(message)
    return cond


def warn(message: str) -> None:
    warnings.append(message)


def rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


# ------------------------------------------------------------------------------------------------
# YAML with Compose's merge tags (!reset, !override)


class ComposeTag:
    def __init__(self, tag: str, value: object) -> None:
        self.tag = tag
        self.value = value

    def __repr__(self) -> str:
        return f"{self.tag} {self.value!r}"


class ComposeLoader(yaml.SafeLoader):
    pass


def _tag_constructor(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> ComposeTag:
    if isinstance(node, yaml.MappingNode):
        value: object = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    return ComposeTag("!" + tag_suffix, value)


ComposeLoader.add_multi_constructor("!", _tag_constructor)


def load_yaml(path: Path, compose: bool = False) -> object:
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=ComposeLoader) if compose else yaml.safe_load(f)


def load_all_yaml(text: str) -> list[object]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


# ------------------------------------------------------------------------------------------------
# What the services read


CONFIG_BLOCK_RE = re.compile(r"export const (\w+) = defineConfig\(\{(.*?)\n\}\);", re.S)
ENV_FIELD_RE = re.compile(r'\benv:\s*"([A-Z][A-Z0-9_]*)"')
SPREAD_RE = re.compile(r"\.\.\.(\w+)\b")
DIRECT_ENV_RE = re.compile(r'\b(?:process\.)?env(?:\.([A-Z][A-Z0-9_]+)|\["([A-Z][A-Z0-9_]+)"\])')


def ts_sources(pkg: Path) -> list[Path]:
    src = pkg / "src"
    if not src.is_dir():
        return []
    return [p for p in sorted(src.rglob("*.ts")) if not p.name.endswith(".test.ts") and "/gen/" not in str(p)]


def config_blocks(pkg: Path) -> dict[str, tuple[set[str], list[str]]]:
    """`export const x = defineConfig({...})` in a package's sources: name -> (env names, spread names)."""
    out: dict[str, tuple[set[str], list[str]]] = {}
    for f in ts_sources(pkg):
        for m in CONFIG_BLOCK_RE.finditer(f.read_text(encoding="utf-8")):
            out[m.group(1)] = (set(ENV_FIELD_RE.findall(m.group(2))), SPREAD_RE.findall(m.group(2)))
    return out


def resolve_config(name: str, blocks: dict[str, tuple[set[str], list[str]]], seen: set[str] | None = None) -> set[str]:
    """Env names of config object `name`, following its `...spreads` (to other known config objects)."""
    seen = set() if seen is None else seen
    if name in seen or name not in blocks:
        return set()
    seen.add(name)
    names, spreads = blocks[name]
    out = set(names)
    for sp in spreads:
        out |= resolve_config(sp, blocks, seen)
    return out


def library_configs() -> dict[str, tuple[set[str], list[str]]]:
    """Config objects of every library (libs/*/src)."""
    out: dict[str, tuple[set[str], list[str]]] = {}
    for pkg in sorted((ROOT / "libs").iterdir()):
        out.update(config_blocks(pkg))
    return out


def workspace_deps(pkg_dir: Path, seen: set[str] | None = None) -> set[str]:
    """Library directories (libs/x) a package depends on, transitively (dependencies only)."""
    seen = set() if seen is None else seen
    manifest = pkg_dir / "package.json"
    if not manifest.is_file():
        return seen
    deps = json.loads(manifest.read_text(encoding="utf-8")).get("dependencies", {})
    for name in deps:
        if name.startswith("@longshot/"):
            lib = name.split("/", 1)[1]
            if lib not in seen and (ROOT / "libs" / lib).is_dir():
                seen.add(lib)
                workspace_deps(ROOT / "libs" / lib, seen)
    return seen


def direct_env_reads(pkg: Path) -> set[str]:
    names: set[str] = set()
    for f in ts_sources(pkg):
        for a, b in DIRECT_ENV_RE.findall(f.read_text(encoding="utf-8")):
            name = a or b
            if name.startswith(("LONGSHOT_", "OTEL_")) and not name.startswith("LONGSHOT_TEST_"):
                names.add(name)
    return names


STAGE_CONFIG_RE = re.compile(r'\bstageServiceConfig\(\s*"(\w+)"')


def function_config_names(name: str) -> set[str]:
    """Env names of a config made by a library function (`...grpcListenConfig(50052)`): its body's fields."""
    for pkg in sorted((ROOT / "libs").iterdir()):
        for f in ts_sources(pkg):
            m = re.search(rf"export function {name}\b.*?\n\}}\n", f.read_text(encoding="utf-8"), re.S)
            if m:
                return set(ENV_FIELD_RE.findall(m.group(0)))
    return set()


def stage_service_config(libs: dict[str, tuple[set[str], list[str]]]) -> tuple[set[str], dict[str, int]]:
    """What `stageServiceConfig(stage, fields)` (libs/stage/src/config.ts) gives every stage service: the env
    names of that file's fields and of the configs it spreads, and each stage's default gRPC port
    (STAGE_SERVICES in stage-services.ts), by stage name."""
    src = ROOT / "libs" / "stage" / "src"
    text = (src / "config.ts").read_text(encoding="utf-8")
    names = set(ENV_FIELD_RE.findall(text))
    for spread in set(SPREAD_RE.findall(text)):
        names |= resolve_config(spread, libs) if spread in libs else function_config_names(spread)
    services = (src / "stage-services.ts").read_text(encoding="utf-8")
    ports = {stage: int(port) for stage, port in re.findall(r'(\w+):\s*\{\s*name:\s*"\w+",\s*grpcPort:\s*(\d+)', services)}
    return names, ports


def service_env() -> tuple[dict[str, set[str]], set[str], dict[str, int]]:
    """Per service: the env names it reads; all names defined by library configs; gRPC port defaults."""
    libs = library_configs()
    lib_names: set[str] = set()
    for name in libs:
        lib_names |= resolve_config(name, libs)
    stage_names, stage_ports = stage_service_config(libs)
    known: dict[str, set[str]] = {}
    ports: dict[str, int] = {}
    for svc in APP_SERVICES:
        pkg = ROOT / "services" / svc
        cfg = pkg / "src" / "config.ts"
        if not ok(cfg.is_file(), f"{rel(cfg)} is missing"):
            known[svc] = set()
            continue
        text = cfg.read_text(encoding="utf-8")
        # The service's own config objects (config.ts, and e.g. a stage-kit.ts it spreads) over the libraries'.
        blocks = {**libs, **config_blocks(pkg)}
        names: set[str] = set(ENV_FIELD_RE.findall(text))
        for m in CONFIG_BLOCK_RE.finditer(text):  # the schema(s) config.ts defines, spreads followed
            names |= resolve_config(m.group(1), blocks)
        for lib in workspace_deps(pkg):
            names |= direct_env_reads(ROOT / "libs" / lib)
        # A stage service's schema is stageServiceConfig("<stage>", own fields): the shared fields, its port.
        stage = STAGE_CONFIG_RE.search(text)
        if stage is not None:
            names |= stage_names
        known[svc] = names
        if stage is not None:
            port = stage_ports.get(stage.group(1))
            if ok(port is not None, f"{rel(cfg)}: stage {stage.group(1)!r} has no grpcPort in STAGE_SERVICES"):
                ports[svc] = port
            continue
        port = re.search(r"grpcPort:\s*\{[^}]*?default:\s*(\d+)", text, re.S)
        if ok(port is not None, f"{rel(cfg)}: no grpcPort default found"):
            ports[svc] = int(port.group(1))
    return known, lib_names, ports


def gateway_http_port() -> int | None:
    """The default of the gateway's httpPort (LONGSHOT_HTTP_PORT), from services/gateway/src."""
    for f in ts_sources(ROOT / "services" / "gateway"):
        m = re.search(r"httpPort:\s*\{[^}]*?default:\s*(\d+)", f.read_text(encoding="utf-8"), re.S)
        if m:
            return int(m.group(1))
    ok(False, "services/gateway/src: no httpPort default found")
    return None


def planned_env() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    path = DEPLOY / "planned-env.txt"
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if not ok(len(parts) >= 2, f"{rel(path)}:{n}: expected NAME SERVICES [reason], got {line!r}"):
            continue
        services = set(parts[1].split(","))
        ok(services <= set(APP_SERVICES), f"{rel(path)}:{n}: unknown service in {parts[1]!r}")
        out[parts[0]] = services
    return out


class EnvCheck:
    def __init__(self) -> None:
        self.known, self.lib_names, self.ports = service_env()
        self.http_port = gateway_http_port()
        self.planned = planned_env()
        self.used_planned: dict[str, set[str]] = {}

    def check(self, where: str, svc: str, names: set[str]) -> None:
        for name in sorted(names):
            if name in self.known[svc] or name in IMAGE_ENV:
                ok(True, "")
                continue
            if svc in self.planned.get(name, set()):
                self.used_planned.setdefault(name, set()).add(svc)
                note_pending(where, svc, "listed in deploy/planned-env.txt", name)
                continue
            if name in self.lib_names:
                why = "a library config defines them: spread it in config.ts"
                note_pending(where, svc, why, name)
                continue
            siblings = [s for s in APP_SERVICES if s != svc and name in self.known[s]]
            if siblings:
                note_pending(where, svc, f"{', '.join(siblings)} read(s) them", name)
                continue
            ok(False, f"{where}: {svc} is given {name}, which no service, library or deploy/planned-env.txt knows")

    def stale_planned(self) -> None:
        for name, services in self.planned.items():
            done = [s for s in services if name in self.known[s]]
            if done:
                warn(f"deploy/planned-env.txt: {', '.join(sorted(done))} now read(s) {name}: update that line")


# ------------------------------------------------------------------------------------------------
# Compose


def compose_env(svc_def: dict) -> dict[str, str]:
    env = svc_def.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def check_compose(envc: EnvCheck) -> None:
    files = {name: ROOT / name for name in ("docker-compose.yml", "docker-compose.cpu.yml", "docker-compose.tls.yml")}
    docs: dict[str, dict] = {}
    for name, path in files.items():
        if not ok(path.is_file(), f"{name} is missing"):
            return
        try:
            doc = load_yaml(path, compose=True)
        except yaml.YAMLError as e:
            ok(False, f"{name} does not parse: {e}")
            return
        ok(isinstance(doc, dict) and isinstance(doc.get("services"), dict), f"{name}: no services mapping")
        docs[name] = doc
    base = docs["docker-compose.yml"]["services"]

    expected = {"nats", "minio", "minio-init", "jaeger", "prometheus", *APP_SERVICES}
    ok(set(base) == expected, f"docker-compose.yml: services are {sorted(base)}, expected {sorted(expected)}")
    for name, svc_def in base.items():
        image = str(svc_def.get("image", ""))
        ok(":" in image and not image.endswith(":latest"), f"docker-compose.yml: {name} image {image!r} has no pinned tag")

    # Environment variables, file by file (overrides too).
    for fname, doc in docs.items():
        for svc in APP_SERVICES:
            svc_def = doc["services"].get(svc)
            if svc_def is None:
                continue
            envc.check(fname, svc, set(compose_env(svc_def)))
            ok("container_name" not in svc_def, f"{fname}: {svc} sets container_name (breaks --scale)")

    interp = base["interpolation"]
    ok(not interp.get("ports"), "docker-compose.yml: interpolation publishes host ports (breaks --scale interpolation=N)")
    for fname, doc in docs.items():
        s = doc["services"].get("interpolation", {})
        ok(not s.get("ports") and "container_name" not in s, f"{fname}: interpolation must stay scalable")

    nats_users, nats_vars = nats_accounts()
    nats_env = compose_env(base["nats"])
    for var in nats_vars:
        ok(var in nats_env, f"docker-compose.yml: nats does not get ${var}, which deploy/nats/accounts.conf needs")

    policies = {p.stem for p in (DEPLOY / "minio" / "policies").glob("*.json")}
    init_text = (DEPLOY / "minio" / "init.sh").read_text(encoding="utf-8")
    init_env = compose_env(base["minio-init"])
    for var in sorted(set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", init_text))):
        ok(var in init_env, f"docker-compose.yml: minio-init does not get {var}, which deploy/minio/init.sh reads")
    lifecycle = json.loads((DEPLOY / "minio" / "lifecycle.json").read_text(encoding="utf-8"))
    expiry_days = {r["Expiration"]["Days"] for r in lifecycle["Rules"] if r.get("Filter", {}).get("Prefix") == "jobs/"}
    ok(
        [r["ID"] for r in lifecycle["Rules"]] == ["longshot-expire:jobs/"],
        "deploy/minio/lifecycle.json: expected one rule with the ID the blob store uses (longshot-expire:jobs/)",
    )

    for svc in APP_SERVICES:
        s = base[svc]
        env = compose_env(s)
        ok(env.get("SERVICE") == svc, f"docker-compose.yml: {svc} has SERVICE={env.get('SERVICE')!r}")
        if svc in envc.ports:
            ok(
                env.get("LONGSHOT_GRPC_PORT") == str(envc.ports[svc]),
                f"docker-compose.yml: {svc} LONGSHOT_GRPC_PORT={env.get('LONGSHOT_GRPC_PORT')!r}, "
                f"config.ts default is {envc.ports[svc]}",
            )
        user = env.get("LONGSHOT_NATS_USER")
        ok(user == svc and user in nats_users, f"docker-compose.yml: {svc} NATS user {user!r} is not its accounts.conf user")
        pw_var = f"LONGSHOT_NATS_{svc.upper()}_PASSWORD"
        ok(pw_var in env.get("LONGSHOT_NATS_PASSWORD", ""), f"docker-compose.yml: {svc} password is not ${pw_var}")
        ok(env.get("LONGSHOT_S3_ACCESS_KEY") == f"longshot-{svc}", f"docker-compose.yml: {svc} S3 access key is not longshot-{svc}")
        ok(svc in policies, f"deploy/minio/policies/{svc}.json is missing")
        ok(f"setup_user {svc} " in init_text, f"deploy/minio/init.sh does not create the user of {svc}")
        secret_var = f"LONGSHOT_S3_{svc.upper()}_SECRET_KEY"
        ok(secret_var in env.get("LONGSHOT_S3_SECRET_KEY", ""), f"docker-compose.yml: {svc} S3 secret is not ${secret_var}")
        ok(secret_var in init_text, f"deploy/minio/init.sh does not read {secret_var}")
        bucket = env.get("LONGSHOT_S3_BUCKET")
        ok(bucket == "longshot", f"docker-compose.yml: {svc} bucket {bucket!r}; init.sh and the policies use 'longshot'")
        pack = [v for v in s.get("volumes", []) if isinstance(v, dict) and v.get("target") == env.get("LONGSHOT_PACK_DIR")]
        ok(
            len(pack) == 1 and pack[0].get("read_only") is True,
            f"docker-compose.yml: {svc} must mount LONGSHOT_PACK_DIR ({env.get('LONGSHOT_PACK_DIR')}) read-only",
        )
        ok(s.get("healthcheck", {}).get("test", [None])[-1] == "deploy/docker/healthcheck.mjs",
           f"docker-compose.yml: {svc} health check is not deploy/docker/healthcheck.mjs")
    gw = compose_env(base["gateway"])
    ok(
        gw.get("LONGSHOT_JOB_OBJECTS_EXPIRY_DAYS") in {str(d) for d in expiry_days},
        "docker-compose.yml: gateway LONGSHOT_JOB_OBJECTS_EXPIRY_DAYS differs from deploy/minio/lifecycle.json",
    )
    # The gateway's HTTP API: its port set (the default), and published on the loopback like gRPC.
    if envc.http_port is not None:
        ok(
            gw.get("LONGSHOT_HTTP_PORT") == str(envc.http_port) and gw.get("LONGSHOT_HTTP", "true") == "true",
            f"docker-compose.yml: gateway LONGSHOT_HTTP_PORT={gw.get('LONGSHOT_HTTP_PORT')!r}, "
            f"the httpPort default is {envc.http_port}",
        )
        published = [str(p) for p in base["gateway"].get("ports", [])]
        ok(
            any(p.endswith(f":{envc.http_port}") and p.startswith("${LONGSHOT_GATEWAY_BIND:-127.0.0.1}:") for p in published),
            f"docker-compose.yml: gateway does not publish its HTTP port {envc.http_port} on ${{LONGSHOT_GATEWAY_BIND:-127.0.0.1}}",
        )
    for svc in MODEL_SERVICES:
        ok("LONGSHOT_HTTP_PORT" not in compose_env(base[svc]), f"docker-compose.yml: {svc} has no HTTP API")

    # GPUs: reserved in the base file, removed by the CPU override.
    cpu = docs["docker-compose.cpu.yml"]["services"]
    for svc in MODEL_SERVICES:
        devices = base[svc].get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
        ok(
            any(d.get("driver") == "nvidia" and d.get("count") == 1 and "gpu" in d.get("capabilities", []) for d in devices),
            f"docker-compose.yml: {svc} does not reserve one NVIDIA GPU",
        )
        ok(compose_env(base[svc]).get("LONGSHOT_EXECUTION_PROVIDER") == "cuda", f"docker-compose.yml: {svc} is not on cuda")
        reset = cpu.get(svc, {}).get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
        ok(isinstance(reset, ComposeTag) and reset.tag == "!reset", f"docker-compose.cpu.yml: {svc} keeps its GPU reservation")
        ok(compose_env(cpu.get(svc, {})).get("LONGSHOT_EXECUTION_PROVIDER") == "cpu", f"docker-compose.cpu.yml: {svc} is not on cpu")
    for svc in APP_SERVICES:
        ok(
            cpu.get(svc, {}).get("build", {}).get("dockerfile") == "deploy/docker/Dockerfile",
            f"docker-compose.cpu.yml: {svc} does not build deploy/docker/Dockerfile",
        )

    # TLS: every certificate named exists in what gen-dev-certs.sh writes.
    gen = (DEPLOY / "tls" / "gen-dev-certs.sh").read_text(encoding="utf-8")
    m = re.search(r"^names=\(([^)]*)\)", gen, re.M)
    made = {"ca.pem", "ca-key.pem"}
    for n in (m.group(1).split() if m else []):
        made |= {f"{n}.pem", f"{n}-key.pem"}
    tls_text = (ROOT / "docker-compose.tls.yml").read_text(encoding="utf-8")
    tls_text += (DEPLOY / "nats" / "nats-tls.conf").read_text(encoding="utf-8")
    for cert in sorted(set(re.findall(r"/certs/([\w.-]+\.pem)", tls_text))):
        ok(cert in made, f"TLS files name /certs/{cert}, which deploy/tls/gen-dev-certs.sh does not make")
    tls_services = docs["docker-compose.tls.yml"]["services"]
    for svc in APP_SERVICES:
        env = compose_env(tls_services.get(svc, {}))
        ok(env.get("LONGSHOT_NATS_URL", "").startswith("tls://"), f"docker-compose.tls.yml: {svc} does not use tls:// for NATS")
        ok(env.get("LONGSHOT_NATS_TLS_CERT") == f"/certs/{svc}.pem", f"docker-compose.tls.yml: {svc} NATS client certificate")

    # Prometheus scrapes every service on the metrics port.
    prom = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    port = compose_env(base["gateway"]).get("LONGSHOT_METRICS_PORT")
    sd = [c for job in prom.get("scrape_configs", []) for c in job.get("dns_sd_configs", [])]
    names = {n for c in sd for n in c.get("names", []) if str(c.get("port")) == port}
    ok(set(APP_SERVICES) <= names, f"deploy/prometheus/prometheus.yml: not every service is scraped on port {port}")


def nats_accounts() -> tuple[set[str], set[str]]:
    text = (DEPLOY / "nats" / "accounts.conf").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    users = set(re.findall(r"\buser:\s*([\w-]+)", code))
    variables = set(re.findall(r"password:\s*\$([A-Z][A-Z0-9_]*)", code))
    ok(set(APP_SERVICES) <= users, f"deploy/nats/accounts.conf: users {sorted(users)} miss a service")
    return users, variables


def check_minio_policies() -> None:
    for path in sorted((DEPLOY / "minio" / "policies").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        ok(doc.get("Version") == "2012-10-17", f"{rel(path)}: Version must be 2012-10-17")
        for st in doc.get("Statement", []):
            ok(st.get("Effect") in {"Allow", "Deny"}, f"{rel(path)}: statement without Effect")
            for res in st.get("Resource", []):
                ok(
                    res == "arn:aws:s3:::longshot" or res.startswith("arn:aws:s3:::longshot/jobs/"),
                    f"{rel(path)}: resource {res} is outside bucket longshot's jobs/ prefix",
                )
            for act in st.get("Action", []):
                ok(act.startswith("s3:") and act != "s3:*", f"{rel(path)}: action {act} is not a single S3 action")


# ------------------------------------------------------------------------------------------------
# Helm


BLOCK_OPEN_RE = re.compile(r"\{\{-?\s*(if|range|with|define|block)\b")
BLOCK_END_RE = re.compile(r"\{\{-?\s*end\s*-?\}\}")


def check_helm_static() -> None:
    chart = DEPLOY / "helm" / "longshot"
    meta = load_yaml(chart / "Chart.yaml")
    ok(meta.get("apiVersion") == "v2" and meta.get("name") == "longshot", "Chart.yaml: apiVersion v2, name longshot")
    load_yaml(chart / "values.yaml")
    for t in sorted((chart / "templates").iterdir()):
        text = re.sub(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", "", t.read_text(encoding="utf-8"), flags=re.S)
        opens, ends = len(BLOCK_OPEN_RE.findall(text)), len(BLOCK_END_RE.findall(text))
        ok(opens == ends, f"{rel(t)}: {opens} blocks opened, {ends} closed")
        ok(text.count("{{") == text.count("}}"), f"{rel(t)}: unbalanced {{{{ }}}}")


def render(cmd: list[str], extra_values: dict | None) -> tuple[int, str, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(extra_values or {}, f)
        values_file = f.name
    try:
        p = subprocess.run([*cmd, "-chart", str(DEPLOY / "helm" / "longshot"), "-f", values_file],
                           capture_output=True, text=True, cwd=ROOT)
        return p.returncode, p.stdout, p.stderr
    finally:
        os.unlink(values_file)


SECRETS = {"secrets": {"values": {s: {"natsPassword": "x", "s3SecretKey": "y"} for s in APP_SERVICES}}}


def check_helm_rendered(cmd: list[str], envc: EnvCheck) -> None:
    chart_values = load_yaml(DEPLOY / "helm" / "longshot" / "values.yaml")
    bus_names = (ROOT / "libs" / "bus" / "src" / "names.ts").read_text(encoding="utf-8")
    stages = re.search(r"export const STAGES = \[([^\]]*)\]", bus_names)
    consumers = set(re.findall(r'"(\w+)"', stages.group(1))) if stages else set()
    account = "LONGSHOT" if "LONGSHOT {" in (DEPLOY / "nats" / "accounts.conf").read_text(encoding="utf-8") else "$G"

    code, _, err = render(cmd, {})
    ok(code != 0 and "natsPassword is required" in err, "helm: rendering without credentials must fail naming them")

    variants = {
        "default": SECRETS,
        "tls, existing secret, no autoscaling, no HTTP API": {
            "tls": {"enabled": True},
            "secrets": {"existingSecret": "creds"},
            "services": {"interpolation": {"autoscaling": {"enabled": False}, "replicas": 3}, "gateway": {"httpPort": 0}},
        },
        "all stages autoscaled, gateway off": {
            **SECRETS,
            "services": {
                "gateway": {"enabled": False},
                "keyframe": {"autoscaling": {"enabled": True}},
                "decoder": {"autoscaling": {"enabled": True}},
            },
        },
    }
    for label, values in variants.items():
        code, out, err = render(cmd, values)
        if not ok(code == 0, f"helm ({label}): rendering failed: {err.strip()}"):
            continue
        try:
            objs = [d for d in load_all_yaml(out) if isinstance(d, dict)]
        except yaml.YAMLError as e:
            ok(False, f"helm ({label}): rendered YAML does not parse: {e}")
            continue
        by_kind: dict[str, dict[str, dict]] = {}
        for o in objs:
            ok("kind" in o and "metadata" in o, f"helm ({label}): object without kind/metadata: {str(o)[:80]}")
            by_kind.setdefault(o.get("kind", "?"), {})[o.get("metadata", {}).get("name", "?")] = o
        merged = chart_values | {k: v for k, v in values.items() if k != "services"}
        svc_values = {s: {**chart_values["services"][s], **values.get("services", {}).get(s, {})} for s in APP_SERVICES}
        for s in svc_values:
            svc_values[s]["autoscaling"] = {**chart_values["services"][s].get("autoscaling", {}),
                                            **values.get("services", {}).get(s, {}).get("autoscaling", {})}
        common = set(by_kind.get("ConfigMap", {}).get("release-longshot-common", {}).get("data", {}))
        scaled = {so["spec"]["scaleTargetRef"]["name"]: so for so in by_kind.get("ScaledObject", {}).values()}
        for svc in APP_SERVICES:
            name = f"release-longshot-{svc}"
            dep = by_kind.get("Deployment", {}).get(name)
            if not svc_values[svc].get("enabled", True):
                ok(dep is None, f"helm ({label}): {svc} is disabled but has a Deployment")
                continue
            if not ok(dep is not None, f"helm ({label}): no Deployment {name}"):
                continue
            ok(name in by_kind.get("Service", {}), f"helm ({label}): no Service {name}")
            ok(name in by_kind.get("PodDisruptionBudget", {}), f"helm ({label}): no PodDisruptionBudget {name}")
            pod = dep["spec"]["template"]["spec"]
            c = pod["containers"][0]
            env = {e["name"] for e in c.get("env", [])}
            envc.check(f"helm chart ({label})", svc, env | common)
            ok({e["name"]: e.get("value") for e in c["env"]}.get("SERVICE") == svc, f"helm ({label}): {svc} SERVICE")
            if svc in envc.ports:
                ok(c["ports"][0]["containerPort"] == envc.ports[svc], f"helm ({label}): {svc} gRPC port differs from config.ts")
            env_values = {e["name"]: e.get("value") for e in c["env"]}
            cports = {p["name"]: p["containerPort"] for p in c["ports"]}
            sports = {p["name"]: p for p in by_kind.get("Service", {}).get(name, {}).get("spec", {}).get("ports", [])}
            http = svc_values[svc].get("httpPort") if svc == "gateway" else None
            if http:
                ok(
                    cports.get("http") == http and env_values.get("LONGSHOT_HTTP_PORT") == str(http),
                    f"helm ({label}): gateway HTTP container port and LONGSHOT_HTTP_PORT must be services.gateway.httpPort ({http})",
                )
                ok(
                    sports.get("http", {}).get("port") == http and sports["http"].get("targetPort") == "http",
                    f"helm ({label}): the gateway Service does not expose port http ({http})",
                )
            else:
                ok("http" not in cports and "http" not in sports, f"helm ({label}): {svc} exposes an HTTP port it does not serve")
                if svc == "gateway":
                    ok(env_values.get("LONGSHOT_HTTP") == "false", f"helm ({label}): gateway with httpPort 0 must run LONGSHOT_HTTP=false")
            mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
            ok(
                mounts.get("model-pack", {}).get("readOnly") is True
                and mounts["model-pack"]["mountPath"] == chart_values["modelPack"]["mountPath"],
                f"helm ({label}): {svc} does not mount the model pack read-only",
            )
            ok(c["securityContext"].get("readOnlyRootFilesystem") is True, f"helm ({label}): {svc} root filesystem writable")
            gpu = svc_values[svc].get("gpu", False)
            limits = c.get("resources", {}).get("limits", {})
            ok((limits.get("nvidia.com/gpu") == 1) == bool(gpu), f"helm ({label}): {svc} GPU limit does not match gpu={gpu}")
            if gpu:
                ok("cuda" in c["image"], f"helm ({label}): {svc} is a GPU service without the CUDA image")
            probe = c.get("readinessProbe", {})
            if merged.get("tls", {}).get("enabled"):
                ok("exec" in probe, f"helm ({label}): {svc} with TLS needs the exec health probe")
            else:
                ok(probe.get("grpc", {}).get("port") == c["ports"][0]["containerPort"], f"helm ({label}): {svc} gRPC probe port")
            autoscaled = svc in MODEL_SERVICES and svc_values[svc]["autoscaling"].get("enabled", False)
            ok((name in scaled) == autoscaled, f"helm ({label}): {svc} ScaledObject present={name in scaled}, expected {autoscaled}")
            ok(("replicas" in dep["spec"]) != autoscaled, f"helm ({label}): {svc} replicas must be left to KEDA exactly when autoscaled")
            if name in scaled:
                trig = scaled[name]["spec"]["triggers"][0]
                md = trig["metadata"]
                ok(trig["type"] == "nats-jetstream", f"helm ({label}): {svc} trigger type {trig['type']}")
                ok(md["stream"] == "LONGSHOT_TASKS", f"helm ({label}): {svc} KEDA stream {md['stream']}")
                ok(md["consumer"] in consumers, f"helm ({label}): {svc} KEDA consumer {md['consumer']} is not one of {sorted(consumers)}")
                ok(md["account"] == account, f"helm ({label}): KEDA account {md['account']}, accounts.conf has {account}")
                ok(all(isinstance(v, str) for v in md.values()), f"helm ({label}): KEDA metadata values must be strings")
        for svc, v in svc_values.items():
            envc.check(f"helm values services.{svc}.env", svc, set((v.get("env") or {}).keys()))


def find_render_cmd(explicit: str | None) -> list[str] | None:
    if explicit:
        return shlex.split(explicit)
    gopath = Path("/usr/share/gocode")
    if not (gopath / "src/github.com/Masterminds/sprig").is_dir() or not (gopath / "src/github.com/ghodss/yaml").is_dir():
        return None
    if subprocess.run(["sh", "-c", "command -v go"], capture_output=True).returncode != 0:
        return None
    out = Path(tempfile.gettempdir()) / "longshot-helm-render"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(gopath)}
    env.setdefault("GOCACHE", str(Path(tempfile.gettempdir()) / "longshot-gocache"))
    p = subprocess.run(["go", "build", "-o", str(out), str(DEPLOY / "helm" / "render" / "main.go")],
                       capture_output=True, text=True, env=env)
    if not ok(p.returncode == 0, f"deploy/helm/render does not build: {p.stderr.strip()}"):
        return None
    return [str(out)]


# ------------------------------------------------------------------------------------------------


def check_compose_cli() -> None:
    """`docker compose config` over the three files when a Compose CLI is installed (no engine needed)."""
    env_file = str(DEPLOY / "env.example")
    combos = [["docker-compose.yml"], ["docker-compose.yml", "docker-compose.cpu.yml"], ["docker-compose.yml", "docker-compose.tls.yml"]]
    v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True) if shutil.which("docker") else None
    if v2 is not None and v2.returncode == 0:
        for files in combos:
            args = [a for f in files for a in ("-f", f)]
            p = subprocess.run(["docker", "compose", "--env-file", env_file, *args, "config", "-q"],
                               capture_output=True, text=True, cwd=ROOT)
            ok(p.returncode == 0, f"docker compose config ({' + '.join(files)}): {p.stderr.strip()}")
        return
    if shutil.which("docker-compose") is None:
        warn("no Compose CLI (docker compose / docker-compose): `compose config` not run")
        return
    # Compose v1 (Debian's docker-compose 1.29): no top-level `name`, no `!reset`. Validate the base and
    # TLS files from copies without `name`, in a temporary directory, with the repository as the project
    # directory (relative paths resolve alike); the CPU override needs Compose v2.
    warn("docker-compose v1 only: docker-compose.cpu.yml (!reset) not validated by a Compose CLI")
    with tempfile.TemporaryDirectory(prefix="longshot-compose-") as tmp:
        copies = []
        for f in ("docker-compose.yml", "docker-compose.tls.yml"):
            text = (ROOT / f).read_text(encoding="utf-8")
            copy = Path(tmp) / f
            copy.write_text(re.sub(r"^name: .*$", "", text, flags=re.M), encoding="utf-8")
            copies.append(copy)
        for files in ([copies[0]], copies):
            args = [a for f in files for a in ("-f", str(f))]
            p = subprocess.run(
                ["docker-compose", "--project-directory", str(ROOT), "--env-file", env_file, *args, "config", "-q"],
                capture_output=True, text=True, cwd=ROOT,
            )
            ok(p.returncode == 0, f"docker-compose config ({' + '.join(f.name for f in files)}): {p.stderr.strip()}")


def check_images() -> None:
    """The build context keeps every workspace manifest and no model pack; pinned versions agree."""
    ignore = [ln.strip() for ln in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()]
    allowed = {ln[1:].strip("/").split("/")[0] for ln in ignore if ln.startswith("!")}
    ok("*" in ignore, ".dockerignore must start from excluding everything (*)")
    ok(not any(a.startswith("models") for a in allowed), ".dockerignore lets models/ into the image (packs are mounted)")
    root_pkg = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    for pattern in root_pkg.get("workspaces", []):
        top = pattern.split("/")[0]
        ok(top in allowed, f".dockerignore leaves out workspace {pattern}: npm ci in the image needs its package.json")
    ort = root_pkg.get("dependencies", {}).get("onnxruntime-node")
    cuda_file = (DEPLOY / "docker" / "Dockerfile.cuda").read_text(encoding="utf-8")
    mentioned = set(re.findall(r"onnxruntime-node (\d+\.\d+\.\d+)", cuda_file))
    mentioned |= set(re.findall(r"Microsoft\.ML\.OnnxRuntime\.Gpu\.Linux (\d+\.\d+\.\d+)", cuda_file))
    ok(mentioned == {ort}, f"Dockerfile.cuda assumes onnxruntime-node {sorted(mentioned)}, package.json pins {ort}: re-check CUDA/cuDNN")
    for name in ("Dockerfile", "Dockerfile.cuda"):
        text = (DEPLOY / "docker" / name).read_text(encoding="utf-8")
        ok("USER node" in text and "NODE_ENV=production" in text and "--omit=dev" in text,
           f"deploy/docker/{name}: USER node, NODE_ENV=production and npm ci --omit=dev are expected")
        ok('CMD ["node", "deploy/docker/start.mjs"]' in text, f"deploy/docker/{name}: exec-form CMD of start.mjs expected")
        ok("ONNXRUNTIME_NODE_INSTALL=" in text, f"deploy/docker/{name}: ONNXRUNTIME_NODE_INSTALL must be set explicitly")


def check_parse_all() -> None:
    for path in sorted(DEPLOY.rglob("*")):
        if "templates" in path.parts or not path.is_file():
            continue
        if path.suffix in {".yml", ".yaml"}:
            try:
                load_yaml(path)
                ok(True, "")
            except yaml.YAMLError as e:
                ok(False, f"{rel(path)} does not parse: {e}")
        elif path.suffix == ".json":
            try:
                json.loads(path.read_text(encoding="utf-8"))
                ok(True, "")
            except json.JSONDecodeError as e:
                ok(False, f"{rel(path)} does not parse: {e}")


def main() -> int:
    args = sys.argv[1:]
    render_cmd = None
    if args[:1] == ["--render-cmd"] and len(args) == 2:
        render_cmd = args[1]
    elif args:
        print("usage: deploy/check.py [--render-cmd CMD]", file=sys.stderr)
        return 2

    check_parse_all()
    envc = EnvCheck()
    check_compose(envc)
    check_compose_cli()
    check_minio_policies()
    check_images()
    check_helm_static()
    cmd = find_render_cmd(render_cmd)
    if cmd is None:
        warn("helm templates not rendered: install golang-go golang-github-masterminds-sprig-dev "
             "golang-github-ghodss-yaml-dev (Debian) to check the rendered objects")
    else:
        check_helm_rendered(cmd, envc)
    envc.stale_planned()

    for (svc, why), (names, wheres) in pending.items():
        warnings.append(f"{svc} does not read {', '.join(sorted(names))} yet ({why}; given in {', '.join(sorted(wheres))})")
    for w in dict.fromkeys(warnings):
        print(f"warning: {w}")
    for e in errors:
        print(f"FAIL: {e}")
    print(f"deploy/check.py: {passed} checks passed, {len(errors)} failed, {len(dict.fromkeys(warnings))} warnings")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
