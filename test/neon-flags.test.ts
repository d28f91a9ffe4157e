// Every flag of Neon's compute_ctl is accepted and does what docs/neon-compatibility.md says:
// a launch with Neon's flags as neon_local and its VM images pass them reaches `running`, the
// flags without effect here are logged once with what they do on Neon, --http-port gives the
// external port N and the internal N+1, --pg-init-timeout bounds the start.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { parseCli, UsageError } from "../src/cli/args.js";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { compatTable, NEON_FLAGS } from "./support/neon-contract.js";
import { freePort } from "./support/ports.js";

const BASE = ["-D", "/tmp/x/pgdata", "-C", "postgresql://cloud_admin@localhost/postgres"];

/** A value Neon's launchers would give the flag. */
function neonValue(long: string): string {
  const values: Record<string, string> = {
    pgbin: "/usr/local/bin/postgres",
    "remote-ext-base-url": "http://pg-ext-s3-gateway",
    "external-http-port": "3080",
    "internal-http-port": "3081",
    "http-port": "3080",
    pgdata: "/var/db/postgres/compute/pgdata",
    connstr: "postgresql://cloud_admin@localhost/postgres",
    "privileged-role-name": "neon_superuser",
    cgroup: "neon-postgres",
    "filecache-connstr":
      "host=localhost port=5432 dbname=postgres user=cloud_admin sslmode=disable application_name=vm-monitor",
    "vm-monitor-addr": "0.0.0.0:10301",
    "set-disk-quota-for-fs": "/var/db/postgres/compute",
    config: "/var/db/postgres/configs/config.json",
    "compute-id": "compute-quiet-mud-123",
    "control-plane-uri": "http://neon-compute-api.local:9096",
    "installed-extensions-collection-interval": "3600",
    "pg-init-timeout": "60",
    "lakebase-mode": "false",
  };
  return values[long] ?? "x";
}

describe("Neon's flags", () => {
  test("the document's flag table is Neon's flag list", () => {
    const rows = compatTable("Flags");
    const documented = rows.flatMap((r) => [...r.key.matchAll(/--[a-z-]+/g)].map((m) => m[0].slice(2)));
    assert.deepEqual(
      documented,
      NEON_FLAGS.map((f) => f.long),
    );
    for (const f of NEON_FLAGS) {
      const row = rows.find((r) => r.key.includes(`--${f.long}`));
      if (f.short) assert.ok(row?.key.includes(`-${f.short},`), `-${f.short} documented with --${f.long}`);
    }
  });

  test("each is accepted, long and short, with the values Neon's launchers give", () => {
    for (const f of NEON_FLAGS) {
      const forms = [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])];
      for (const form of forms) {
        const argv = [...BASE, form, ...(f.value ? [neonValue(f.long)] : [])];
        // -p needs -i (as in Neon).
        if (f.long === "control-plane-uri") argv.push("-i", "c1");
        const parsed = parseCli(argv, {});
        assert.equal(parsed.kind, "run", form);
      }
    }
  });

  test("--http-port is the external port N and the internal N+1, and excludes the port flags", () => {
    const parsed = parseCli([...BASE, "--http-port", "4000"], {});
    assert.ok(parsed.kind === "run");
    assert.equal(parsed.options.externalHttpPort, 4000);
    assert.equal(parsed.options.internalHttpPort, 4001);
    for (const other of ["--external-http-port", "--internal-http-port"])
      assert.throws(() => parseCli([...BASE, "--http-port", "4000", other, "5000"], {}), UsageError);
    assert.throws(() => parseCli([...BASE, "--http-port", "65535"], {}), /--http-port/);
  });

  test("values are checked: --lakebase-mode true|false, intervals and timeouts are numbers", () => {
    assert.throws(
      () => parseCli([...BASE, "--lakebase-mode", "yes"], {}),
      /--lakebase-mode expects true or false/,
    );
    assert.throws(() => parseCli([...BASE, "--lakebase-mode"], {}), UsageError);
    assert.throws(
      () => parseCli([...BASE, "--installed-extensions-collection-interval", "0"], {}),
      UsageError,
    );
    assert.throws(() => parseCli([...BASE, "--pg-init-timeout", "soon"], {}), UsageError);
    assert.throws(() => parseCli([...BASE, "-p", "http://cp"], {}), /needs --compute-id/);
    const parsed = parseCli([...BASE, "--filecache-connstr", neonValue("filecache-connstr")], {});
    assert.ok(parsed.kind === "run" && parsed.options.filecacheConnstr?.startsWith("host=localhost"));
  });
});

describe("a launch with Neon's flags", () => {
  const agents: RunningAgent[] = [];
  after(() => Promise.all(agents.map((a) => a.stop())));

  test("reaches running; each flag that does not apply here is logged once with its Neon effect", async () => {
    const agent = await startAgent({
      name: "neon-flags",
      neonHttpPort: true,
      // The VM image's flags and neon_local's, with a ComputeConfig as neon_local writes it.
      config: {
        spec: minimalSpec({
          swap_size_bytes: 1 << 30,
          disk_quota_bytes: 1 << 33,
          // No pgbouncer here: a warning, never a failed compute (as in Neon).
          pgbouncer_settings: { default_pool_size: "10" },
        }),
        compute_ctl_config: {},
      },
      args: [
        "-b",
        "/usr/lib/postgresql/15/bin/postgres",
        "-i",
        "compute-quiet-mud-123",
        "-r",
        "http://127.0.0.1:9/pg-ext-s3-gateway//",
        "--privileged-role-name",
        "neon_superuser",
        "--cgroup",
        "neon-postgres",
        "--vm-monitor-addr",
        "127.0.0.1:10301",
        "--filecache-connstr",
        neonValue("filecache-connstr"),
        "--resize-swap-on-bind",
        "--set-disk-quota-for-fs",
        "/var/db/postgres/compute",
        "--installed-extensions-collection-interval",
        "3600",
        "--pg-init-timeout",
        "120",
        "--lakebase-mode",
        "true",
        "--dev",
        "--pgbouncer-admin",
        `postgresql://postgres@127.0.0.1:${await freePort()}/pgbouncer`,
      ],
    });
    agents.push(agent);
    await agent.waitForStatus("running", 60_000);
    // --http-port: the external port N and the internal N+1.
    assert.equal(agent.internalPort, agent.port + 1);
    assert.equal((await fetch(`${agent.url}/status`)).status, 200);
    const grants = await fetch(`${agent.internalUrl}/grants`, { method: "POST" });
    assert.equal(grants.status, 415, "the internal server answers on N+1");
    const notes = agent.logEntries().filter((e) => String(e.msg).endsWith(": not applicable here"));
    assert.deepEqual(notes.map((e) => e.flag).sort(), [
      "--filecache-connstr",
      "--lakebase-mode",
      "--resize-swap-on-bind",
      "--set-disk-quota-for-fs",
    ]);
    for (const n of notes)
      assert.ok(String(n.neon).length > 20 && String(n.here).length > 20, String(n.flag));
    const status = (await agent.status()) as unknown as { ignored: { field: string }[] };
    assert.deepEqual(status.ignored.map((i) => i.field).sort(), ["disk_quota_bytes", "swap_size_bytes"]);
    // pgbouncer is not there: after its retries, one warning; the compute keeps running.
    const end = Date.now() + 30_000;
    const warned = () =>
      agent.logEntries().some((e) => String(e.msg).includes("pgbouncer_settings not applied"));
    while (!warned() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.ok(warned(), "the pgbouncer warning");
    assert.equal((await agent.status()).status, "running");
  });

  test("--pg-init-timeout fails a start that takes longer (exit 1), naming the flag", async () => {
    const closed = await freePort();
    const agent = await startAgent({
      name: "neon-pg-init-timeout",
      spec: minimalSpec({
        source: { kind: "primary", connstring: `postgresql://postgres@127.0.0.1:${closed}/postgres` },
      }),
      args: ["--pg-init-timeout", "1"],
    });
    agents.push(agent);
    const failed = await agent.waitForStatus("failed", 30_000);
    assert.match(failed.error ?? "", /did not reach running within --pg-init-timeout 1 s/);
    assert.equal((await agent.exited).code, 1);
  });
});
