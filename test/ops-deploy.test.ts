// The deployment files agree with the agent: the Kubernetes manifest's container args parse
// with the agent's own CLI parser and its probes hit the right paths on the external port; the
// ConfigMap's spec is valid and mounted where -S points; the systemd unit's ExecStart parses,
// its directories are the ones systemd creates, and its KillMode lets the agent (not systemd)
// shut Postgres down.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { parseAllDocuments } from "yaml";
import { prepareSocketPath } from "../src/api/listener/unix-socket.js";
import { externalRoutes } from "../src/api/rest/route-table.js";
import { parseCli } from "../src/cli/args.js";
import type { AgentOptions } from "../src/cli/options.js";
import { parseConnstr } from "../src/postgres/connection.js";
import { parseSpec } from "../src/spec/parse.js";
import { REPO } from "./support/agent.js";
import { restrictedViolations } from "./support/pod-security-restricted.js";

function runOptions(argv: string[]): AgentOptions {
  const parsed = parseCli(argv, {});
  assert.equal(parsed.kind, "run", `args parse to a run: ${argv.join(" ")}`);
  return (parsed as { options: AgentOptions }).options;
}

// biome-ignore lint/suspicious/noExplicitAny: walking untyped manifest YAML
type Obj = Record<string, any>;

/** The schema-checked models of the kinds the manifest has (Kubernetes' OpenAPI, via ajv). */
const K8S_MODELS: Record<string, new (o: Obj) => { validate(): void }> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "apps/v1/StatefulSet": StatefulSet,
};

describe("deploy/kubernetes", () => {
  const docs = parseAllDocuments(readFileSync(path.join(REPO, "deploy/kubernetes/compute-ctl.yaml"), "utf8"));
  for (const d of docs) assert.deepEqual(d.errors, [], "YAML parses without errors");
  const objects = docs.map((d) => d.toJS() as Obj);
  const byKind = (kind: string) => {
    const o = objects.find((x) => x.kind === kind);
    assert.ok(o, `a ${kind}`);
    return o;
  };
  const sts = byKind("StatefulSet");
  const pod = sts.spec.template.spec;
  const container = pod.containers.find((c: Obj) => c.name === "compute-ctl");
  const options = runOptions(container.args.map(String));
  const mounts = (): Obj[] => container.volumeMounts;
  const portNumber = (port: string | number) =>
    typeof port === "number" ? port : container.ports.find((p: Obj) => p.name === port)?.containerPort;

  test("probes: startup /startupz, liveness /healthz, readiness /readyz, all on the external port", () => {
    const probes = {
      startupProbe: "/startupz",
      livenessProbe: "/healthz",
      readinessProbe: "/readyz",
    } as const;
    const served = externalRoutes().map((r) => `${r.method} ${r.path}`);
    for (const [probe, wanted] of Object.entries(probes)) {
      const get = container[probe]?.httpGet;
      assert.ok(get, `${probe} is an HTTP GET`);
      assert.equal(get.path, wanted, `${probe} path`);
      assert.ok(served.includes(`GET ${wanted}`), `${wanted} is an external route`);
      assert.equal(portNumber(get.port), options.externalHttpPort, `${probe} port is --external-http-port`);
      assert.ok((container[probe].timeoutSeconds ?? 1) >= 1);
    }
    // The startup budget is long (a base backup, a replica's WAL replay); liveness restarts
    // only after several misses.
    const startup = container.startupProbe;
    assert.ok(
      startup.periodSeconds * startup.failureThreshold >= 300,
      "startup budget of at least 5 minutes",
    );
    assert.ok(container.livenessProbe.failureThreshold >= 3);
  });

  test("container ports and the Service match the agent's flags", () => {
    const ports = new Map<string, number>(container.ports.map((p: Obj) => [p.name, p.containerPort]));
    assert.equal(ports.get("http"), options.externalHttpPort);
    assert.equal(ports.get("http-internal"), options.internalHttpPort);
    assert.equal(ports.get("grpc"), options.grpcPort);
    const pgPort = Number(new URL(options.connstr).port);
    assert.equal(ports.get("postgres"), pgPort, "the -C port is Postgres's port");
    assert.equal(options.httpHost, "0.0.0.0", "reachable from the kubelet and the Service");
    const svc = byKind("Service");
    assert.deepEqual(svc.spec.selector, sts.spec.selector.matchLabels);
    assert.deepEqual(
      sts.spec.selector.matchLabels,
      Object.fromEntries(Object.entries(sts.spec.template.metadata.labels)),
    );
    for (const p of svc.spec.ports)
      assert.ok(ports.has(p.targetPort), `Service port ${p.name} targets a container port`);
    assert.ok(
      !svc.spec.ports.some((p: Obj) => p.targetPort === "http-internal"),
      "internal API not published",
    );
  });

  test("the spec comes from the ConfigMap, is valid, and the volumes cover every path the agent writes", () => {
    assert.ok(options.specPath);
    const mounts: Obj[] = container.volumeMounts;
    const specMount = mounts.find((m) => options.specPath?.startsWith(`${m.mountPath}/`));
    assert.ok(specMount, "-S is inside a mount");
    const volume = pod.volumes.find((v: Obj) => v.name === specMount.name);
    const cm = byKind("ConfigMap");
    assert.equal(volume.configMap.name, cm.metadata.name);
    const key = path.posix.relative(specMount.mountPath, options.specPath);
    const spec = parseSpec(JSON.parse(cm.data[key]));
    assert.equal(spec.source.kind, "initdb");
    assert.match(
      spec.json.cluster.postgresql_conf ?? "",
      /listen_addresses = '\*'/,
      "Postgres reachable through the Service",
    );
    const under = (p: string | null) => mounts.some((m) => p?.startsWith(`${m.mountPath}/`));
    assert.ok(under(options.pgdata), "pgdata on a volume");
    assert.ok(under(options.cacheDir), "template cache on a volume");
    assert.ok(under(options.grpcSocket), "gRPC socket on a volume");
    assert.ok(Buffer.byteLength(options.grpcSocket) < 100, "socket path fits sun_path");
    assert.ok(
      mounts.some((m) => m.mountPath === "/dev/shm"),
      "/dev/shm sized for Postgres",
    );
  });

  test("runs as the image's postgres user with time for the agent's shutdown ladder", () => {
    const dockerfile = readFileSync(path.join(REPO, "Dockerfile"), "utf8");
    const uid = Number(/useradd[^\n]*--uid (\d+)/.exec(dockerfile)?.[1]);
    assert.equal(pod.securityContext.runAsUser, uid);
    assert.equal(pod.securityContext.fsGroup, uid);
    // The image's own USER is the same, so the agent never runs as root and never switches
    // user for Postgres (it would need capabilities the restricted profile drops).
    assert.match(dockerfile, /^USER postgres$/m);
    // The agent escalates fast -> immediate after 30 s (src/agent/signals.ts).
    assert.ok(pod.terminationGracePeriodSeconds > 30);
  });

  test("every object is valid against the Kubernetes schema (kubernetes-models, offline)", () => {
    assert.deepEqual(objects.map((o) => o.kind).sort(), ["ConfigMap", "Service", "StatefulSet"]);
    for (const o of objects) {
      const Model = K8S_MODELS[`${o.apiVersion}/${o.kind}`];
      assert.ok(Model, `a schema for ${o.apiVersion} ${o.kind}`);
      assert.doesNotThrow(() => new Model(o).validate(), `${o.kind} ${o.metadata?.name}`);
    }
    // The validator is not a rubber stamp: a wrong type and a missing required field fail.
    const broken = structuredClone(sts);
    broken.spec.template.spec.containers[0].ports[0].containerPort = "3080";
    assert.throws(() => new StatefulSet(broken).validate(), /containerPort/);
    const noSelector = structuredClone(sts);
    delete noSelector.spec.selector;
    assert.throws(() => new StatefulSet(noSelector).validate(), /selector/);
  });

  test("the pod passes the Pod Security Standards restricted profile", () => {
    assert.deepEqual(restrictedViolations(sts.spec.template), []);
  });

  test("the restricted-profile check rejects what the profile forbids", () => {
    const variants: [string, (p: Obj) => void][] = [
      ["Privilege Escalation", (p) => delete p.spec.containers[0].securityContext.allowPrivilegeEscalation],
      ["Capabilities (restricted)", (p) => (p.spec.containers[0].securityContext.capabilities.drop = [])],
      [
        "Capabilities (restricted)",
        (p) => (p.spec.containers[0].securityContext.capabilities.add = ["CHOWN"]),
      ],
      ["Running as Non-root", (p) => delete p.spec.securityContext.runAsNonRoot],
      ["Running as Non-root", (p) => (p.spec.containers[0].securityContext.runAsNonRoot = false)],
      ["Running as Non-root user", (p) => (p.spec.containers[0].securityContext.runAsUser = 0)],
      ["Seccomp (restricted)", (p) => delete p.spec.securityContext.seccompProfile],
      [
        "Seccomp (baseline)",
        (p) => (p.spec.containers[0].securityContext.seccompProfile = { type: "Unconfined" }),
      ],
      ["Volume Types", (p) => p.spec.volumes.push({ name: "h", hostPath: { path: "/" } })],
      ["HostPath Volumes", (p) => p.spec.volumes.push({ name: "h", hostPath: { path: "/" } })],
      ["Host Namespaces", (p) => (p.spec.hostPID = true)],
      ["Host Ports", (p) => (p.spec.containers[0].ports[0].hostPort = 3080)],
      ["Privileged Containers", (p) => (p.spec.containers[0].securityContext.privileged = true)],
      ["Sysctls", (p) => (p.spec.securityContext.sysctls = [{ name: "kernel.shmmax", value: "1" }])],
      ["/proc Mount Type", (p) => (p.spec.containers[0].securityContext.procMount = "Unmasked")],
      ["SELinux", (p) => (p.spec.securityContext.seLinuxOptions = { type: "spc_t" })],
      ["AppArmor", (p) => (p.spec.securityContext.appArmorProfile = { type: "Unconfined" })],
      [
        "Privilege Escalation",
        (p) =>
          (p.spec.initContainers = [
            { name: "init", image: "x", securityContext: { capabilities: { drop: ["ALL"] } } },
          ]),
      ],
    ];
    for (const [control, mutate] of variants) {
      const template = structuredClone(sts.spec.template);
      mutate(template);
      const found = restrictedViolations(template);
      assert.ok(
        found.some((v) => v.startsWith(`${control}:`)),
        `${control} not reported: ${JSON.stringify(found)}`,
      );
    }
  });

  test("the gRPC socket's directory is one the agent makes private, even in a world-writable emptyDir", async () => {
    // kubelet creates an emptyDir 0777 (setgid with fsGroup); the agent refuses such a
    // directory for its token-less socket, so the socket sits one directory below.
    const run = mounts().find((m) => options.grpcSocket.startsWith(`${m.mountPath}/`));
    assert.ok(run, "the socket is on a volume");
    const rel = path.posix.relative(run.mountPath, options.grpcSocket);
    assert.ok(rel.includes("/"), `${options.grpcSocket} is in a subdirectory of the ${run.name} volume`);
    const emptyDir = mkdtempSync(path.join(os.tmpdir(), "emptydir-"));
    try {
      chmodSync(emptyDir, 0o2777);
      await prepareSocketPath(path.join(emptyDir, rel));
      await assert.rejects(prepareSocketPath(path.join(emptyDir, "direct.sock")), /writable by others/);
    } finally {
      rmSync(emptyDir, { recursive: true, force: true });
    }
  });

  test("Postgres's Unix socket is on a writable volume (the root file system is read-only)", () => {
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    const socketDir = parseConnstr(options.connstr).host;
    assert.ok(socketDir.startsWith("/"), "-C names a socket directory");
    assert.ok(
      mounts().some((m) => m.mountPath === socketDir && !m.readOnly),
      `${socketDir} is a writable volume`,
    );
    assert.ok(
      mounts().some((m) => m.mountPath === "/tmp"),
      "/tmp is a volume (os.tmpdir())",
    );
  });
});

/** systemd unit file -> sections of key -> values (continuation lines joined). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | null = null;
  const lines = text.replace(/\\\n/g, " ").split("\n");
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      sections.set(header[1], section);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv && section, `unit line: ${line}`);
    section.set(kv[1], [...(section.get(kv[1]) ?? []), kv[2].trim()]);
  }
  return sections;
}

describe("deploy/systemd", () => {
  const UNIT = path.join(REPO, "deploy/systemd/compute-ctl.service");
  const unitText = readFileSync(UNIT, "utf8");
  const unit = parseUnit(unitText);
  const service = unit.get("Service");
  assert.ok(service, "[Service]");
  const one = (k: string) => {
    const v = service.get(k);
    assert.equal(v?.length, 1, `exactly one ${k}=`);
    return (v as string[])[0];
  };

  test("KillMode=mixed: SIGTERM to the agent only, SIGKILL to what is left after TimeoutStopSec", () => {
    assert.equal(one("KillMode"), "mixed");
    assert.equal(one("KillSignal"), "SIGTERM");
    // Longer than the agent's fast -> immediate escalation (30 s).
    assert.ok(Number(one("TimeoutStopSec")) > 30);
    assert.equal(one("Restart"), "on-failure");
    assert.equal(one("User"), "postgres");
    assert.equal(unit.get("Install")?.get("WantedBy")?.[0], "multi-user.target");
  });

  test("ExecStart parses with the agent's CLI; everything it writes is in a directory systemd creates", () => {
    const [bin, ...argv] = one("ExecStart").split(/\s+/);
    assert.equal(path.posix.basename(bin), "compute_ctl");
    assert.ok(bin.endsWith("/bin/compute_ctl"));
    const o = runOptions(argv);
    assert.ok(o.configPath, "config from a file");
    const state = `/var/lib/${one("StateDirectory")}`;
    const cache = `/var/cache/${one("CacheDirectory")}`;
    const run = `/run/${one("RuntimeDirectory")}`;
    assert.ok(o.pgdata.startsWith(`${state}/`), `${o.pgdata} under ${state}`);
    assert.equal(o.cacheDir, cache);
    assert.ok(o.grpcSocket.startsWith(`${run}/`), "gRPC socket outside PrivateTmp, visible to local clients");
    // ProtectSystem=strict: Debian's /run/postgresql is read-only, so -C names a socket
    // directory the unit owns (unix_socket_directories).
    assert.equal(one("ProtectSystem"), "strict");
    assert.equal(parseConnstr(o.connstr).host, run, "Postgres's Unix socket in the runtime directory");
    assert.deepEqual([o.externalHttpPort, o.internalHttpPort, o.grpcPort], [3080, 3081, 3082]);
  });

  test("sandbox: no capabilities, no new privileges, a syscall filter, private directories", () => {
    assert.equal(one("CapabilityBoundingSet"), "");
    assert.equal(one("NoNewPrivileges"), "yes");
    assert.equal(one("PrivateTmp"), "yes");
    assert.equal(one("UMask"), "0077");
    assert.equal(one("SystemCallErrorNumber"), "EPERM");
    assert.ok(service.get("SystemCallFilter")?.some((f) => f.split(/\s+/).includes("@system-service")));
    // The gRPC socket needs no token: its directory is the agent user's alone.
    for (const kind of ["StateDirectoryMode", "CacheDirectoryMode", "RuntimeDirectoryMode"])
      assert.equal(one(kind), "0700", kind);
  });

  const analyze = spawnSync("systemd-analyze", ["--version"], { encoding: "utf8" });
  const noAnalyze = analyze.error ? "systemd-analyze is not installed (.ci/run installs it)" : false;

  test("systemd-analyze security --offline=yes: 4.0 or better, as the unit and docs/operations.md say", {
    skip: noAnalyze,
  }, () => {
    const r = spawnSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", UNIT], {
      encoding: "utf8",
    });
    const out = `${r.stdout}${r.stderr}`;
    const m = /Overall exposure level for compute-ctl\.service: (\d+\.\d) (\w+)/.exec(out);
    assert.ok(m, out);
    const score = Number(m[1]);
    assert.ok(score <= 4.0, `exposure ${score} > 4.0\n${out}`);
    assert.match(
      unitText,
      new RegExp(`scores this unit ${m[1]}\\s+# "${m[2]}"`),
      "the unit's comment has today's score",
    );
    const docs = readFileSync(path.join(REPO, "docs/operations.md"), "utf8");
    assert.ok(docs.includes(m[0]), `docs/operations.md records "${m[0]}"`);
    // Every setting systemd-analyze still crosses out is explained in the unit's comments.
    const crossed = [...out.matchAll(/^✗ ([A-Za-z]+)=/gm)].map((x) => x[1]);
    assert.ok(crossed.length > 0);
    const comments = unitText
      .split("\n")
      .filter((l) => l.startsWith("#"))
      .join("\n");
    for (const name of crossed) {
      assert.ok(comments.includes(name), `${name} is crossed out and not explained in the unit`);
      assert.ok(docs.includes(name), `${name} is crossed out and not in the recorded output`);
    }
  });

  test("systemd-analyze verify: no unknown or malformed settings", { skip: noAnalyze }, () => {
    // verify wants ExecStart to exist: point it at this checkout's launcher.
    const dir = mkdtempSync(path.join(os.tmpdir(), "unit-verify-"));
    try {
      const copy = path.join(dir, "compute-ctl.service");
      writeFileSync(
        copy,
        unitText.replace("/opt/compute-ctl/bin/compute_ctl", path.join(REPO, "bin/compute_ctl")),
      );
      const r = spawnSync("systemd-analyze", ["verify", copy], { encoding: "utf8" });
      assert.equal(`${r.stdout}${r.stderr}`.trim(), "", "no warnings");
      assert.equal(r.status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
