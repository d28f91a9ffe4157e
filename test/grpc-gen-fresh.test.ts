// gen/ is committed; this fails when it no longer matches what `npm run gen` makes from proto/,
// and when the protos stop passing buf lint (STANDARD + COMMENTS).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { REPO } from "./support/grpc-harness.js";

const run = promisify(execFile);
const BUF = path.join(REPO, "node_modules/.bin/buf");

function listFiles(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

test("gen/ is what buf generate makes from proto/ (run `npm run gen` after editing a .proto)", async (t) => {
  const out = mkdtempSync(path.join(os.tmpdir(), "cc-gen-"));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  // -o prefixes the template's `out: gen`, so the fresh copy lands in <out>/gen.
  await run(BUF, ["generate", "-o", out], { cwd: REPO });
  const fresh = path.join(out, "gen");
  const committed = path.join(REPO, "gen");
  const freshFiles = listFiles(fresh).sort();
  assert.deepEqual(listFiles(committed).sort(), freshFiles, "gen/ has missing or extra files");
  assert.ok(freshFiles.includes("compute/v1/compute_service_pb.ts"));
  for (const f of freshFiles) {
    assert.ok(
      readFileSync(path.join(committed, f)).equals(readFileSync(path.join(fresh, f))),
      `gen/${f} is stale; run npm run gen`,
    );
  }
});

test("the compute protos pass buf lint (STANDARD and COMMENTS)", async () => {
  const { stdout, stderr } = await run(BUF, ["lint"], { cwd: REPO });
  assert.equal(stdout + stderr, "");
});
