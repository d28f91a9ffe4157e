// The pure parts around pgbouncer and local_proxy: pgbouncer.ini editing keeps the file as it
// was apart from the settings, pid-file locks are read from /proc/locks (checked against a real
// flock(1) holder), local_proxy's config.json has Neon's shape, and libpq keyword strings
// (--filecache-connstr) become URLs.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { parse } from "pg-connection-string";
import { parseKeywordConnstr, toConnstrUrl } from "../src/postgres/keyword-connstr.js";
import { configureLocalProxy, localProxyConfigJson } from "../src/sidecars/local-proxy.js";
import { updatePgbouncerIni } from "../src/sidecars/pgbouncer-ini.js";
import { isLocked, readPidFile } from "../src/sidecars/pid-file.js";

const INI = `;; pgbouncer for the compute
[databases]
* = host=127.0.0.1 port=5432
; pool_mode in [databases] is not ours to touch
pool_mode = transaction

[pgbouncer]
listen_port = 6432
; the pool size
default_pool_size = 5
pool_mode=statement
default_pool_size = 7

[users]
app = pool_mode=session
`;

test("pgbouncer.ini: a setting is replaced in place, a new one ends the section, the rest is kept", () => {
  const out = updatePgbouncerIni(INI, {
    default_pool_size: "42",
    pool_mode: "session",
    max_client_conn: "100",
  });
  assert.equal(
    out,
    `;; pgbouncer for the compute
[databases]
* = host=127.0.0.1 port=5432
; pool_mode in [databases] is not ours to touch
pool_mode = transaction

[pgbouncer]
listen_port = 6432
; the pool size
default_pool_size = 42
pool_mode = session
max_client_conn = 100

[users]
app = pool_mode=session
`,
  );
  // Applying the same settings again changes nothing.
  assert.equal(updatePgbouncerIni(out, { default_pool_size: "42", pool_mode: "session" }), out);
});

test("pgbouncer.ini: a file without [pgbouncer] (or an empty one) gets the section", () => {
  assert.equal(updatePgbouncerIni("", { pool_mode: "session" }), "[pgbouncer]\npool_mode = session\n");
  assert.equal(
    updatePgbouncerIni("[databases]\n* = host=x\n", { pool_mode: "session" }),
    "[databases]\n* = host=x\n\n[pgbouncer]\npool_mode = session\n",
  );
  // A section at the very end, without a trailing newline.
  assert.equal(
    updatePgbouncerIni("[pgbouncer]\nlisten_port = 1", { listen_port: "2", x: "y" }),
    "[pgbouncer]\nlisten_port = 2\nx = y\n",
  );
});

test("pid files: missing, unlocked (pgbouncer's kind) and flock()ed by a live process", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pidf-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "pid");
  assert.deepEqual(readPidFile(file), { state: "missing" });
  writeFileSync(file, "4242\n");
  assert.deepEqual(readPidFile(file), { state: "unlocked", pid: 4242 });
  writeFileSync(file, "garbage");
  assert.deepEqual(readPidFile(file), { state: "unlocked", pid: null });
  // flock(1) holds the lock while its child runs; the child writes its pid, as local_proxy does.
  const holder = spawn("flock", ["-n", file, "sh", "-c", `echo $$ > ${file}; exec sleep 30`], {
    stdio: "ignore",
    detached: true,
  });
  // The lock is shared by flock and its child: both go (the process group).
  const killHolder = () => {
    try {
      process.kill(-(holder.pid as number), "SIGKILL");
    } catch {
      // gone
    }
  };
  t.after(killHolder);
  const deadline = Date.now() + 10_000;
  let seen = readPidFile(file);
  while (!(seen.state === "locked" && seen.pid !== null) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    seen = readPidFile(file);
  }
  assert.equal(seen.state, "locked");
  assert.ok(seen.pid !== null && seen.pid > 1);
  const exited = new Promise((r) => holder.once("exit", r));
  killHolder();
  await exited;
  while (readPidFile(file).state === "locked" && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(readPidFile(file).state, "unlocked", "the lock went with its holder");
});

test("/proc/locks lines: device and inode must both match; waiters (->) do not count", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "pidf-"));
  try {
    const file = path.join(dir, "pid");
    writeFileSync(file, "1\n");
    const st = statSync(file);
    const major = Number((BigInt(st.dev) >> 8n) & 0xfffn)
      .toString(16)
      .padStart(2, "0");
    const minor = Number(BigInt(st.dev) & 0xffn)
      .toString(16)
      .padStart(2, "0");
    const line = (dev: string, ino: number | bigint, waiter = false) =>
      `1: ${waiter ? "-> " : ""}FLOCK  ADVISORY  WRITE 999 ${dev}:${ino} 0 EOF\n`;
    assert.equal(isLocked(file, line(`${major}:${minor}`, st.ino)), true);
    assert.equal(isLocked(file, line(`${major}:${minor}`, st.ino + 1)), false);
    assert.equal(isLocked(file, line("ff:ff", st.ino)), false);
    assert.equal(isLocked(file, line(`${major}:${minor}`, st.ino, true)), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("local_proxy config.json has Neon's shape; a locked pid file gets SIGHUP", async (t) => {
  const spec = {
    jwks: [
      { id: "p1", role_names: ["r1", "r 2"], jwks_url: "https://idp.example/jwks", provider_name: "idp" },
    ],
  };
  assert.deepEqual(JSON.parse(localProxyConfigJson(spec)), {
    jwks: [
      {
        id: "p1",
        role_names: ["r1", "r 2"],
        jwks_url: "https://idp.example/jwks",
        provider_name: "idp",
        jwt_audience: null,
      },
    ],
  });
  assert.equal(localProxyConfigJson({ jwks: null, tls: null }), "{}");
  const dir = mkdtempSync(path.join(os.tmpdir(), "lp-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Not running: the file is written for local_proxy to read when it starts.
  assert.deepEqual(configureLocalProxy(spec, dir), { file: path.join(dir, "config.json"), notified: null });
  assert.deepEqual(JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")).jwks[0].id, "p1");
  const hups = path.join(dir, "hups");
  const proxy = spawn(
    "flock",
    [
      "-n",
      path.join(dir, "pid"),
      "sh",
      "-c",
      `trap 'echo hup >> ${hups}' HUP; echo $$ > ${dir}/pid; while :; do sleep 0.05; done`,
    ],
    { stdio: "ignore", detached: true },
  );
  t.after(() => {
    try {
      process.kill(-(proxy.pid as number), "SIGKILL");
    } catch {
      // gone
    }
  });
  const deadline = Date.now() + 10_000;
  const running = () => {
    const p = readPidFile(path.join(dir, "pid"));
    return p.state === "locked" && p.pid !== null;
  };
  while (!running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const out = configureLocalProxy({ ...spec, tls: { key_path: "/k", cert_path: "/c" } }, dir);
  assert.ok(out.notified !== null);
  while (!readFileSync(hups, { encoding: "utf8", flag: "a+" }).includes("hup") && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.match(readFileSync(hups, "utf8"), /hup/);
  assert.deepEqual(JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")).tls, {
    key_path: "/k",
    cert_path: "/c",
  });
});

test("libpq keyword strings become URLs with the same host, port, user, password, database", () => {
  const neonDefault =
    "host=localhost port=5432 dbname=postgres user=cloud_admin sslmode=disable application_name=vm-monitor";
  assert.equal(toConnstrUrl(neonDefault), "postgresql://cloud_admin@localhost:5432/postgres");
  const socket = parse(toConnstrUrl("host=/tmp port=6432 dbname=pgbouncer user=pgbouncer"));
  assert.equal(socket.host, "/tmp");
  assert.equal(socket.port, "6432");
  assert.equal(socket.database, "pgbouncer");
  const quoted = parse(toConnstrUrl("user=a password='p w\\'x' host=::1 dbname='my db'"));
  assert.equal(quoted.password, "p w'x");
  assert.equal(quoted.host, "::1");
  assert.equal(quoted.database, "my db");
  assert.equal(toConnstrUrl("postgresql://u@h/d"), "postgresql://u@h/d");
  assert.throws(() => parseKeywordConnstr("host"), /keyword=value/);
  assert.throws(() => parseKeywordConnstr("password='x"), /unterminated/);
});

test("termination stops local_proxy (SIGTERM) unless --dev; a pid file naming no pgbouncer is left alone", async (t) => {
  const { stopSidecars } = await import("../src/sidecars/configure-sidecars.js");
  const pino = (await import("pino")).default;
  const dir = mkdtempSync(path.join(os.tmpdir(), "stop-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const signals = path.join(dir, "signals");
  writeFileSync(signals, "");
  const proxy = spawn(
    "flock",
    [
      "-n",
      path.join(dir, "pid"),
      "sh",
      "-c",
      `trap 'echo TERM >> ${signals}; exit 0' TERM; echo $$ > ${dir}/pid; while :; do sleep 0.05; done`,
    ],
    { stdio: "ignore", detached: true },
  );
  t.after(() => {
    try {
      process.kill(-(proxy.pid as number), "SIGKILL");
    } catch {
      // gone
    }
  });
  const deadline = Date.now() + 10_000;
  const running = () => {
    const p = readPidFile(path.join(dir, "pid"));
    return p.state === "locked" && p.pid !== null;
  };
  while (!running() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  // Our own pid in the pgbouncer pid file: it is not a pgbouncer, nothing may be killed.
  const pgbouncerPid = path.join(dir, "pgbouncer.pid");
  writeFileSync(pgbouncerPid, `${process.pid}\n`);
  const options = { dev: true, pgbouncerPidFile: pgbouncerPid, localProxyDir: dir } as Parameters<
    typeof stopSidecars
  >[0];
  const log = pino({ level: "silent" });
  stopSidecars(options, log);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(readFileSync(signals, "utf8"), "", "--dev leaves local_proxy alone");
  stopSidecars({ ...options, dev: false }, log);
  while (!readFileSync(signals, "utf8").includes("TERM") && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.match(readFileSync(signals, "utf8"), /TERM/);
});
