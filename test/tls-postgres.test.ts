// Postgres's TLS from compute_ctl_config.tls (with the tls_experimental feature), end to end with
// the real agent and Postgres: the start waits for files that appear late, psql connects with
// sslmode=verify-full against the test CA, the copies in the data directory are private to the
// Postgres user, a rotation of the files reaches new connections after a reload, a broken
// replacement keeps the certificate in use, the expiry metric follows, and files that never
// come fail the start with a clear error. pgbouncer (the real one) and local_proxy (a stand-in)
// get the same files, as Neon gives them.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { minimalSpec, type RunningAgent, startAgent } from "./support/agent.js";
import { issueCertificate, makeCa, opensslFingerprint, opensslNotAfter } from "./support/certificates.js";
import { pgBinaries, pgOsUser, tempDir } from "./support/postgres.js";
import { startLocalProxyStandIn, startPgbouncer } from "./support/sidecars.js";
import { expiryMetric, until } from "./support/tls-probes.js";

const root = tempDir("tls-pg-");
const agents: RunningAgent[] = [];
after(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  rmSync(root, { recursive: true, force: true });
});
const ca = makeCa(root, "ca");

function psql(port: number, conninfo: string, sql: string): string {
  return execFileSync(
    pgBinaries.tool("psql"),
    [`host=localhost hostaddr=127.0.0.1 port=${port} user=postgres dbname=postgres ${conninfo}`, "-Atc", sql],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  ).trim();
}

/** A session with sslmode=verify-full against the test CA: "t" when it is encrypted. */
const verifyFullSsl = (port: number) =>
  psql(
    port,
    `sslmode=verify-full sslrootcert=${ca.certPath}`,
    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
  );

/** The SHA-256 fingerprint of the certificate Postgres presents to a new TLS connection. */
function presentedByPostgres(port: number): string {
  const out = execFileSync(
    "openssl",
    ["s_client", "-starttls", "postgres", "-connect", `127.0.0.1:${port}`, "-CAfile", ca.certPath],
    { input: "", encoding: "utf8", stdio: ["pipe", "pipe", "ignore"] },
  );
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(out);
  assert.ok(pem, `openssl s_client printed a certificate:\n${out}`);
  return new X509Certificate(pem[0]).fingerprint256;
}

describe("Postgres TLS from compute_ctl_config.tls", () => {
  test("waits for late files, serves verify-full, follows a rotation, keeps the old on a broken one", async () => {
    const secret = path.join(root, "secret");
    mkdirSync(secret);
    const certPath = path.join(secret, "tls.crt");
    const keyPath = path.join(secret, "tls.key");
    const proxy = await startLocalProxyStandIn();
    // pgbouncer pools to nothing here: only its settings are looked at.
    const pgb = await startPgbouncer(1);
    after(async () => {
      proxy.stop();
      await pgb.stop();
    });
    const sidecars = {
      pgbouncer_settings: { default_pool_size: "20" },
      local_proxy_config: { jwks: null, tls: { key_path: "/spec/key", cert_path: "/spec/cert" } },
    };
    const agent = await startAgent({
      name: "tls-postgres",
      config: {
        spec: minimalSpec({ features: ["tls_experimental"], ...sidecars }),
        compute_ctl_config: { tls: { cert_path: certPath, key_path: keyPath } },
      },
      env: { PGBOUNCER_PASSWORD: pgb.password },
      args: ["--pgbouncer-admin", pgb.adminUrl, "--pgbouncer-ini", pgb.ini, "--local-proxy-dir", proxy.dir],
    });
    agents.push(agent);
    // The start waits: the files are not there yet.
    await until(
      "the wait for the files",
      () =>
        agent.logEntries().some((e) => e.msg === "waiting for Postgres's TLS certificate files") || undefined,
    );
    assert.equal((await agent.status()).status, "init");
    // Written as a mounted Secret is: root's, readable by all (Postgres would refuse this key).
    const first = issueCertificate(ca, path.join(root, "src"), { name: "pg-first" });
    writeFileSync(keyPath, first.key, { mode: 0o644 });
    writeFileSync(certPath, first.cert, { mode: 0o644 });
    await agent.waitForStatus("running");

    assert.equal(verifyFullSsl(agent.pgPort), "t");
    assert.equal(presentedByPostgres(agent.pgPort), opensslFingerprint(first.certPath));
    // Plaintext clients are still served (as in Neon: ssl = on does not require it), and so is
    // the agent's own connection (loopback, no TLS).
    assert.equal(psql(agent.pgPort, "sslmode=disable", "SELECT 1"), "1");
    assert.deepEqual(await agent.query("SELECT 1 AS one"), [{ one: 1 }]);
    // Postgres's copies are the Postgres user's alone.
    for (const name of ["server.crt", "server.key"]) {
      const st = statSync(path.join(agent.pgdata, name));
      assert.equal(st.mode & 0o777, 0o600, name);
      assert.equal(st.uid, pgOsUser?.uid ?? process.getuid?.(), name);
    }
    assert.ok(readFileSync(path.join(agent.pgdata, "server.key")).equals(first.key));
    const status = await agent.status();
    const ignored = (status.ignored ?? []) as { field: string }[];
    assert.deepEqual(
      ignored.filter((i) => /tls/.test(i.field) || i.field.startsWith("features")),
      [],
      "compute_ctl_config.tls and tls_experimental are applied, not ignored",
    );
    assert.equal(await expiryMetric(agent, "postgres"), opensslNotAfter(first.certPath).getTime() / 1000);
    // As Neon: local_proxy gets compute_ctl_config.tls's files (not the spec's own), pgbouncer
    // accepts TLS clients with them.
    const proxyConfig = JSON.parse(readFileSync(path.join(proxy.dir, "config.json"), "utf8"));
    assert.deepEqual(proxyConfig.tls, { key_path: keyPath, cert_path: certPath });
    const pgbConfig = await until("pgbouncer's TLS settings", async () => {
      const c = await pgb.config();
      return c.client_tls_sslmode === "allow" ? c : undefined;
    });
    assert.equal(pgbConfig.client_tls_cert_file, certPath);
    assert.equal(pgbConfig.client_tls_key_file, keyPath);
    // pgbouncer takes the settings live first; the accepted ones are written to its ini after.
    await until(
      "client_tls_sslmode in pgbouncer.ini",
      () => /^client_tls_sslmode = allow$/m.test(readFileSync(pgb.ini, "utf8")) || undefined,
    );

    // Rotation: new files; Postgres reloads and new connections get the new certificate.
    const second = issueCertificate(ca, path.join(root, "src"), { name: "pg-second" });
    writeFileSync(keyPath, second.key);
    writeFileSync(certPath, second.cert);
    const want = opensslFingerprint(second.certPath);
    await until("Postgres presenting the new certificate", () =>
      presentedByPostgres(agent.pgPort) === want ? true : undefined,
    );
    assert.equal(verifyFullSsl(agent.pgPort), "t");
    assert.equal(await expiryMetric(agent, "postgres"), opensslNotAfter(second.certPath).getTime() / 1000);

    // A broken replacement (another certificate's key) is refused: nothing changes.
    const third = issueCertificate(ca, path.join(root, "src"), { name: "pg-third" });
    const logged = agent.logEntries().length;
    writeFileSync(keyPath, third.key);
    const refusal = await until("the refusal", () =>
      agent
        .logEntries()
        .slice(logged)
        .find((e) => e.msg === "TLS certificate replacement refused; the certificate in use stays"),
    );
    assert.match(String(refusal.error), /does not belong to the certificate/);
    assert.ok(readFileSync(path.join(agent.pgdata, "server.key")).equals(second.key));
    assert.equal(presentedByPostgres(agent.pgPort), want);
    assert.equal((await agent.status()).status, "running");

    // A reconfiguration without the feature turns ssl off; with it again, on with the files as
    // they are then (the pair completed meanwhile).
    const configure = async (features: string[]) => {
      const res = await agent.post("/configure", { spec: minimalSpec({ features, ...sidecars }) });
      assert.equal(res.status, 200, await res.text());
    };
    // The reload is a signal to the postmaster: new sessions see it once it has been handled.
    const sslIs = (want: string) =>
      until(`ssl = ${want}`, () => (psql(agent.pgPort, "", "SHOW ssl") === want ? true : undefined));
    await configure([]);
    await sslIs("off");
    // Without the feature local_proxy gets the spec's own tls again.
    await until("local_proxy's own tls", () =>
      JSON.parse(readFileSync(path.join(proxy.dir, "config.json"), "utf8")).tls?.key_path === "/spec/key"
        ? true
        : undefined,
    );
    assert.throws(() => psql(agent.pgPort, "sslmode=require", "SELECT 1"), /server does not support SSL/);
    writeFileSync(certPath, third.cert);
    await configure(["tls_experimental"]);
    await sslIs("on");
    assert.equal(presentedByPostgres(agent.pgPort), opensslFingerprint(third.certPath));
  });

  test("files that never come fail the start after --pg-tls-wait-s, saying what is missing", async () => {
    const missing = path.join(root, "never");
    const agent = await startAgent({
      name: "tls-postgres-timeout",
      args: ["--pg-tls-wait-s", "1"],
      config: {
        spec: minimalSpec({ features: ["tls_experimental"] }),
        compute_ctl_config: { tls: { cert_path: `${missing}/tls.crt`, key_path: `${missing}/tls.key` } },
      },
    });
    agents.push(agent);
    const st = await agent.waitForStatus("failed");
    assert.match(
      String(st.error),
      /compute_ctl_config\.tls: no valid certificate and key after 1 s \(--pg-tls-wait-s\): cannot read .*never\/tls\.crt: ENOENT/,
    );
  });
});
