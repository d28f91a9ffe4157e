// Runs bin/endpoint-storage (the bundled server) on a free loopback port with a data dir in a
// temp dir, authorised by a static token or an Ed25519 public key; stop() ends it and removes
// the data.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO } from "./agent.js";
import { freePort } from "./ports.js";

export const STORAGE_BIN = path.join(REPO, "bin/endpoint-storage");

export interface RunningStorage {
  proc: ChildProcess;
  /** `127.0.0.1:PORT`, as a spec's endpoint_storage_addr. */
  addr: string;
  url: string;
  dataDir: string;
  logs(): string;
  stop(): Promise<void>;
}

export async function startStorage(
  auth: { token: string } | { publicKeyPem: string },
  extraArgs: string[] = [],
): Promise<RunningStorage> {
  const root = mkdtempSync(path.join(os.tmpdir(), "cces-"));
  const dataDir = path.join(root, "data");
  const args = ["--data-dir", dataDir, ...extraArgs];
  if ("token" in auth) {
    writeFileSync(path.join(root, "token"), `${auth.token}\n`, { mode: 0o600 });
    args.push("--token-file", path.join(root, "token"));
  } else {
    writeFileSync(path.join(root, "key.pem"), auth.publicKeyPem);
    args.push("--public-key", path.join(root, "key.pem"));
  }
  const port = await freePort();
  args.push("--listen", `127.0.0.1:${port}`);
  const proc = spawn(STORAGE_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  proc.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (output.includes("endpoint storage listening")) {
        proc.stderr?.off("data", onData);
        resolve();
      }
    };
    proc.stderr?.on("data", onData);
    proc.once("exit", (code) => reject(new Error(`endpoint-storage exited with ${code}: ${output}`)));
  });
  return {
    proc,
    addr: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    logs: () => output,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        await exited;
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
