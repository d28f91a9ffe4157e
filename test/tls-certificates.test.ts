// The certificate rules (src/tls/certificate-pair.ts) and rotation (reloading-certificate.ts,
// tls-front.ts) without the agent: certificates made by openssl, real TLS handshakes on real
// sockets. What a pair must be, what a rotation looks like to a new connection, what a broken
// replacement leaves in place, and a Kubernetes Secret volume's symlink swap.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, describe, test } from "node:test";
import tls from "node:tls";
import pino from "pino";
import { parseCli, UsageError } from "../src/cli/args.js";
import {
  CertificateError,
  type CertificatePair,
  checkCertificatePair,
  readPemInputs,
  readPemInputsSync,
} from "../src/tls/certificate-pair.js";
import { FileChangeTrigger } from "../src/tls/file-change-trigger.js";
import { waitForCertificatePair } from "../src/tls/postgres-tls.js";
import { ReloadingCertificate } from "../src/tls/reloading-certificate.js";
import { createTlsFront } from "../src/tls/tls-front.js";
import { issueCertificate, makeCa, opensslFingerprint, opensslNotAfter } from "./support/certificates.js";
import { tempDir } from "./support/postgres.js";

const root = tempDir("tls-cert-");
after(() => rmSync(root, { recursive: true, force: true }));
const ca = makeCa(root, "ca");
const otherCa = makeCa(root, "other-ca");

/** A logger whose lines the test can read. */
function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: "debug" },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

function check(certPath: string, keyPath: string, clientCaPath?: string): CertificatePair {
  const files = { certPath, keyPath, clientCaPath };
  return checkCertificatePair(files, readPemInputsSync(files));
}

describe("a certificate pair", () => {
  test("is accepted with its facts when the key belongs to an unexpired certificate", () => {
    const s = issueCertificate(ca, root, { name: "good", days: 3 });
    const pair = check(s.certPath, s.keyPath, ca.certPath);
    assert.equal(pair.subject, "CN=good");
    assert.equal(pair.fingerprint256, opensslFingerprint(s.certPath));
    assert.equal(pair.notAfter.getTime(), opensslNotAfter(s.certPath).getTime());
    assert.ok(pair.clientCa?.equals(ca.pem));
  });

  test("is refused, naming the file and the reason, for every broken input", async () => {
    const a = issueCertificate(ca, root, { name: "a" });
    const b = issueCertificate(ca, root, { name: "b" });
    const expired = issueCertificate(ca, root, { name: "expired", days: -1 });
    const garbage = path.join(root, "garbage.pem");
    writeFileSync(garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    const empty = path.join(root, "empty.pem");
    writeFileSync(empty, "");
    const encrypted = path.join(root, "encrypted.key");
    execFileSync("openssl", ["pkey", "-in", a.keyPath, "-aes256", "-passout", "pass:x", "-out", encrypted]);
    const huge = path.join(root, "huge.pem");
    writeFileSync(huge, Buffer.alloc(2 * 1024 * 1024, 65));
    const tenGb = path.join(root, "ten-gb.key");
    writeFileSync(tenGb, "");
    truncateSync(tenGb, 10 * 2 ** 30);
    const fifo = path.join(root, "fifo.pem");
    execFileSync("mkfifo", [fifo]);
    const expiredCa = makeCa(path.join(root, "old"), "old-ca");
    const expiredCaPem = path.join(root, "expired-ca.pem");
    const expiredCsr = path.join(root, "expired-ca.csr");
    execFileSync("openssl", [
      "req",
      "-new",
      "-key",
      expiredCa.keyPath,
      "-out",
      expiredCsr,
      "-subj",
      "/CN=expired-ca",
    ]);
    execFileSync("openssl", [
      "x509",
      "-req",
      "-in",
      expiredCsr,
      "-signkey",
      expiredCa.keyPath,
      "-days",
      "-1",
      "-out",
      expiredCaPem,
    ]);
    const cases: [string, () => unknown, RegExp][] = [
      [
        "key of another certificate",
        () => check(a.certPath, b.keyPath),
        /b\.key does not belong to the certificate in .*a\.crt/,
      ],
      ["expired", () => check(expired.certPath, expired.keyPath), /expired\.crt expired at/],
      ["garbage PEM", () => check(garbage, a.keyPath), /garbage\.pem: certificate #1 does not parse/],
      ["no certificate", () => check(empty, a.keyPath), /empty\.pem: no PEM certificate/],
      [
        "a certificate as the key",
        () => check(a.certPath, a.certPath),
        /a\.crt: it does not parse as a PEM private key/,
      ],
      ["encrypted key", () => check(a.certPath, encrypted), /encrypted\.key: the key is encrypted/],
      ["too large", () => check(huge, a.keyPath), /huge\.pem is 2097152 bytes/],
      // Sparse: refused from its size, never read.
      ["10 GB", () => check(a.certPath, tenGb), /ten-gb\.key is 10737418240 bytes/],
      // A FIFO without a writer would block a plain read forever.
      ["a FIFO", () => check(fifo, a.keyPath), /fifo\.pem is not a regular file/],
      ["a directory", () => check(a.certPath, root), /is not a regular file/],
      ["missing", () => check(path.join(root, "nope.crt"), a.keyPath), /cannot read .*nope\.crt: ENOENT/],
      [
        "expired client CA",
        () => check(a.certPath, a.keyPath, expiredCaPem),
        /client CA file .*expired-ca\.pem: CN=expired-ca expired at/,
      ],
    ];
    for (const [what, fn, message] of cases) {
      assert.throws(fn, (err: unknown) => err instanceof CertificateError && message.test(err.message), what);
    }
    // The rotation path reads asynchronously, by the same rules.
    for (const [file, message] of [
      [fifo, /fifo\.pem is not a regular file/],
      [tenGb, /ten-gb\.key is 10737418240 bytes/],
    ] as const) {
      await assert.rejects(readPemInputs({ certPath: file, keyPath: a.keyPath }), message);
    }
  });

  test("is checked against the clock it is given: valid until notAfter, not after", () => {
    const s = issueCertificate(ca, root, { name: "clock", days: 1 });
    const files = { certPath: s.certPath, keyPath: s.keyPath };
    const inputs = readPemInputsSync(files);
    const notAfter = opensslNotAfter(s.certPath).getTime();
    assert.equal(checkCertificatePair(files, inputs, { now: notAfter - 1000 }).expired, false);
    assert.throws(() => checkCertificatePair(files, inputs, { now: notAfter }), /expired at/);
  });

  test("an expired certificate passes where a start takes it (acceptExpired), marked expired; the other rules hold", () => {
    const expired = issueCertificate(ca, root, { name: "expired-at-start", days: -1 });
    const files = { certPath: expired.certPath, keyPath: expired.keyPath };
    const pair = checkCertificatePair(files, readPemInputsSync(files), { acceptExpired: true });
    assert.equal(pair.expired, true);
    assert.equal(pair.fingerprint256, opensslFingerprint(expired.certPath));
    // Every other rule still holds.
    const other = issueCertificate(ca, root, { name: "expired-other", days: -1 });
    assert.throws(
      () =>
        checkCertificatePair(
          { certPath: expired.certPath, keyPath: other.keyPath },
          readPemInputsSync({ certPath: expired.certPath, keyPath: other.keyPath }),
          { acceptExpired: true },
        ),
      /does not belong to the certificate/,
    );
  });
});

/** Connects with TLS (trusting `caPem`), returns the fingerprint the server presented. */
function presented(port: number, caPem: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: "127.0.0.1", servername: "localhost", ca: caPem }, () => {
      const fp = s.getPeerX509Certificate()?.fingerprint256 ?? "";
      s.destroy();
      resolve(fp);
    });
    s.once("error", reject);
  });
}

/** A raw TCP listener whose connections go through a TLS front answering "ok". */
async function frontServer(certificate: ReloadingCertificate) {
  const front = createTlsFront({
    certificate,
    alpn: ["http/1.1"],
    requireClientCertificate: false,
    handshakeTimeoutMs: 5000,
    log: pino({ level: "silent" }),
    onSecure: (socket) => socket.end("ok"),
  });
  const server = net.createServer({ pauseOnConnect: true }, (s) => front.handleConnection(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      front.close();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Resolves with the next replacement the certificate accepts. The watches do not keep the process
 * alive (an agent's servers do), so a 60 s deadline does, and fails the test if nothing comes.
 */
function nextReplacement(certificate: ReloadingCertificate): Promise<CertificatePair> {
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error("no replacement within 60 s")), 60_000);
    const off = certificate.subscribe((next) => {
      off();
      clearTimeout(deadline);
      resolve(next);
    });
  });
}

describe("rotation", () => {
  test("a replaced pair reaches the next handshake; a broken one is refused and the old stays", async () => {
    const dir = path.join(root, "rot");
    mkdirSync(dir);
    const files = { certPath: path.join(dir, "tls.crt"), keyPath: path.join(dir, "tls.key") };
    const first = issueCertificate(ca, path.join(root, "rot-src"), { name: "first" });
    writeFileSync(files.certPath, first.cert);
    writeFileSync(files.keyPath, first.key);
    const { log, lines } = recordingLog();
    // The periodic re-check is far away: only the directory watch can see the change in time.
    const certificate = new ReloadingCertificate({
      files,
      initial: check(files.certPath, files.keyPath),
    }).follow({ log, intervalMs: 3_600_000 });
    const server = await frontServer(certificate);
    try {
      assert.equal(await presented(server.port, ca.pem), opensslFingerprint(first.certPath));
      // A connection open before the rotation keeps working after it.
      const open = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect(
          { port: server.port, host: "127.0.0.1", servername: "localhost", ca: ca.pem },
          () => resolve(s),
        );
        s.once("error", reject);
      });
      const openData = new Promise<string>((r) => open.once("data", (d) => r(String(d))));
      const openPeer = open.getPeerX509Certificate()?.fingerprint256;

      const second = issueCertificate(ca, path.join(root, "rot-src"), { name: "second" });
      const replaced = nextReplacement(certificate);
      writeFileSync(files.keyPath, second.key);
      writeFileSync(files.certPath, second.cert);
      assert.equal((await replaced).fingerprint256, opensslFingerprint(second.certPath));
      assert.equal(await presented(server.port, ca.pem), opensslFingerprint(second.certPath));
      assert.equal(await openData, "ok");
      assert.equal(openPeer, opensslFingerprint(first.certPath));
      open.destroy();

      // Corrupt: a key of another certificate. Refused, logged; the second pair stays.
      const third = issueCertificate(ca, path.join(root, "rot-src"), { name: "third" });
      writeFileSync(files.keyPath, third.key);
      await certificate.recheck();
      const refusal = lines.find(
        (l) => l.msg === "TLS certificate replacement refused; the certificate in use stays",
      );
      assert.ok(refusal, "the refusal is logged");
      assert.match(String(refusal.error), /does not belong to the certificate/);
      assert.equal(refusal.sha256, opensslFingerprint(second.certPath), "names the certificate kept");
      assert.equal(certificate.current.fingerprint256, opensslFingerprint(second.certPath));
      assert.equal(await presented(server.port, ca.pem), opensslFingerprint(second.certPath));
      // Logged once, however often the same content is looked at.
      await certificate.recheck();
      assert.equal(lines.filter((l) => l.msg === refusal.msg).length, 1);
      // Completing the pair (the certificate written after its key) is taken.
      const completed = nextReplacement(certificate);
      writeFileSync(files.certPath, third.cert);
      assert.equal((await completed).fingerprint256, opensslFingerprint(third.certPath));
    } finally {
      certificate.close();
      await server.close();
    }
  });

  test("Kubernetes Secret volume updates (the ..data symlink swapped, the old directory removed) are seen, one after another", async () => {
    // The kubelet's layout and update (AtomicWriter): tls.crt -> ..data/tls.crt, ..data ->
    // ..<timestamp>/; an update writes a new timestamped directory, points ..data_tmp at it,
    // renames ..data_tmp over ..data, then removes the old directory.
    const vol = path.join(root, "secret");
    let previous: string | null = null;
    const write = (stamp: string, c: { cert: Buffer; key: Buffer }) => {
      mkdirSync(path.join(vol, stamp), { recursive: true });
      writeFileSync(path.join(vol, stamp, "tls.crt"), c.cert);
      writeFileSync(path.join(vol, stamp, "tls.key"), c.key);
      symlinkSync(stamp, path.join(vol, "..data_tmp"));
      renameSync(path.join(vol, "..data_tmp"), path.join(vol, "..data"));
      if (previous) rmSync(path.join(vol, previous), { recursive: true });
      previous = stamp;
    };
    const v1 = issueCertificate(ca, path.join(root, "k8s-src"), { name: "v1" });
    write("..2026_01", v1);
    symlinkSync("..data/tls.crt", path.join(vol, "tls.crt"));
    symlinkSync("..data/tls.key", path.join(vol, "tls.key"));
    const files = { certPath: path.join(vol, "tls.crt"), keyPath: path.join(vol, "tls.key") };
    // The periodic re-check is an hour away: only the watches can see the updates.
    const certificate = new ReloadingCertificate({
      files,
      initial: check(files.certPath, files.keyPath),
    }).follow({ log: pino({ level: "silent" }), intervalMs: 3_600_000 });
    const trigger = new FileChangeTrigger([files.certPath], () => {}, {
      log: pino({ level: "silent" }),
      intervalMs: 3_600_000,
      debounceMs: 10,
    });
    try {
      for (const [i, stamp] of ["..2026_02", "..2026_03", "..2026_04"].entries()) {
        const next = issueCertificate(ca, path.join(root, "k8s-src"), { name: `v${i + 2}` });
        const replaced = nextReplacement(certificate);
        write(stamp, next);
        assert.equal((await replaced).fingerprint256, opensslFingerprint(next.certPath), stamp);
      }
      // The watches follow the swaps: the volume and the directory ..data points at now, not the
      // removed ones.
      await new Promise<void>((resolve, reject) => {
        const deadline = Date.now() + 60_000;
        const poll = () => {
          const want = [vol, path.join(vol, "..2026_04")].sort();
          if (JSON.stringify(trigger.watchedDirectories.sort()) === JSON.stringify(want)) return resolve();
          if (Date.now() > deadline)
            return reject(new Error(`still watching ${trigger.watchedDirectories.join(", ")}`));
          setTimeout(poll, 20);
        };
        poll();
      });
    } finally {
      trigger.close();
      certificate.close();
    }
  });

  test("started on an expired certificate: an error line at follow; an expired replacement is refused, a valid one taken", async () => {
    const dir = path.join(root, "expired-start");
    mkdirSync(dir);
    const old = issueCertificate(ca, dir, { name: "old", days: -1 });
    const files = { certPath: path.join(dir, "cur.crt"), keyPath: path.join(dir, "cur.key") };
    writeFileSync(files.certPath, old.cert);
    writeFileSync(files.keyPath, old.key);
    const { log, lines } = recordingLog();
    const certificate = new ReloadingCertificate({
      files,
      initial: checkCertificatePair(files, readPemInputsSync(files), { acceptExpired: true }),
    }).follow({ log, intervalMs: 3_600_000 });
    try {
      const expiredLine = lines.find((l) => l.level === 50 && /in use has expired/.test(String(l.msg)));
      assert.equal(expiredLine?.sha256, opensslFingerprint(old.certPath));
      const older = issueCertificate(ca, dir, { name: "older", days: -1 });
      writeFileSync(files.certPath, older.cert);
      writeFileSync(files.keyPath, older.key);
      await certificate.recheck();
      assert.equal(certificate.current.fingerprint256, opensslFingerprint(old.certPath));
      assert.match(
        String(
          lines.find((l) => l.msg === "TLS certificate replacement refused; the certificate in use stays")
            ?.error,
        ),
        /cur\.crt expired at/,
      );
      const fresh = issueCertificate(ca, dir, { name: "fresh" });
      writeFileSync(files.certPath, fresh.cert);
      writeFileSync(files.keyPath, fresh.key);
      await certificate.recheck();
      assert.equal(certificate.current.fingerprint256, opensslFingerprint(fresh.certPath));
      assert.equal(certificate.current.expired, false);
    } finally {
      certificate.close();
    }
  });

  test("Postgres's start takes an expired pair at once instead of waiting for a valid one", async () => {
    const dir = path.join(root, "pg-expired");
    const old = issueCertificate(ca, dir, { name: "pg-old", days: -1 });
    const pair = await waitForCertificatePair(
      { certPath: old.certPath, keyPath: old.keyPath },
      { timeoutMs: 60_000, log: pino({ level: "silent" }) },
    );
    assert.equal(pair.expired, true);
    assert.equal(pair.fingerprint256, opensslFingerprint(old.certPath));
  });

  test("SIGHUP's poke re-reads at once (a file system without inotify)", async () => {
    const dir = path.join(root, "poke");
    mkdirSync(dir);
    const a = issueCertificate(ca, dir, { name: "pa" });
    const b = issueCertificate(ca, dir, { name: "pb" });
    const files = { certPath: path.join(dir, "cur.crt"), keyPath: path.join(dir, "cur.key") };
    writeFileSync(files.certPath, a.cert);
    writeFileSync(files.keyPath, a.key);
    const certificate = new ReloadingCertificate({
      files,
      initial: check(files.certPath, files.keyPath),
    }).follow({ log: pino({ level: "silent" }), intervalMs: 3_600_000, debounceMs: 10 });
    try {
      certificate.close(); // no watches left: only an explicit re-check can see the change
      writeFileSync(files.certPath, b.cert);
      writeFileSync(files.keyPath, b.key);
      await certificate.recheck();
      assert.equal(certificate.current.fingerprint256, opensslFingerprint(b.certPath));
    } finally {
      certificate.close();
    }
  });
});

describe("the TLS front", () => {
  test("refuses a plaintext client at once with a 400 that says TLS is needed", async () => {
    const s = issueCertificate(ca, root, { name: "front" });
    const certificate = new ReloadingCertificate({
      files: { certPath: s.certPath, keyPath: s.keyPath },
      initial: check(s.certPath, s.keyPath),
    }).follow({ log: pino({ level: "silent" }) });
    const server = await frontServer(certificate);
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const c = net.connect(server.port, "127.0.0.1", () => c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        let got = "";
        c.on("data", (d) => {
          got += d;
        });
        c.once("close", () => resolve(got));
        c.once("error", reject);
      });
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(answer, /this port requires TLS/);
      // A client trusting another CA fails its handshake.
      await assert.rejects(
        presented(server.port, otherCa.pem),
        /self-signed|unable to verify|unable to get local issuer/,
      );
    } finally {
      certificate.close();
      await server.close();
    }
  });
});

describe("the TLS flags", () => {
  const base = ["-D", "/nonexistent/pgdata", "-C", "postgresql://postgres@127.0.0.1:5432/postgres"];
  test("are usage errors when incomplete or out of range", () => {
    const cases: [string[], RegExp][] = [
      [["--tls-key", "/k"], /--tls-cert and --tls-key go together/],
      [["--tls-cert", "/c"], /--tls-cert and --tls-key go together/],
      [["--tls-client-ca", "/ca"], /--tls-client-ca needs --tls-cert and --tls-key/],
      [["--tls-cert", "", "--tls-key", "/k"], /--tls-cert expects a file path/],
      [["--tls-recheck-s", "0"], /--tls-recheck-s expects 1 to 86400 seconds/],
      [["--pg-tls-wait-s", "100000"], /--pg-tls-wait-s expects 0 to 86400 seconds/],
    ];
    for (const [extra, message] of cases) {
      assert.throws(
        () => parseCli([...base, ...extra]),
        (e: unknown) => e instanceof UsageError && message.test(e.message),
        extra.join(" "),
      );
    }
  });

  test("resolve the paths and default to plaintext, 60 s re-reads and 60 s waits", () => {
    const plain = parseCli(base);
    assert.ok(plain.kind === "run");
    assert.equal(plain.options.tlsCertPath, null);
    assert.equal(plain.options.tlsRecheckS, 60);
    assert.equal(plain.options.pgTlsWaitS, 60);
    const tlsOn = parseCli([
      ...base,
      "--tls-cert",
      "c.pem",
      "--tls-key",
      "k.pem",
      "--tls-client-ca",
      "ca.pem",
    ]);
    assert.ok(tlsOn.kind === "run");
    assert.equal(tlsOn.options.tlsCertPath, path.resolve("c.pem"));
    assert.equal(tlsOn.options.tlsKeyPath, path.resolve("k.pem"));
    assert.equal(tlsOn.options.tlsClientCaPath, path.resolve("ca.pem"));
  });
});
