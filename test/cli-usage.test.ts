// The launcher's usage errors behave like the tools people script around: exit status 2,
// nothing on stdout, exactly one line on stderr saying what is wrong and one line with the
// hint, and nothing touched (no data directory, no port). --help and --version exit 0.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { usageErrorText } from "../src/cli/args.js";
import { AGENT_BIN } from "./support/agent.js";
import { tempDir } from "./support/postgres.js";

const root = tempDir("cli-");
after(() => rmSync(root, { recursive: true, force: true }));
const pgdata = path.join(root, "pgdata");
const C = ["-C", "postgresql://postgres@127.0.0.1:5999/postgres"];
const HINT = "Try 'compute_ctl --help' for more information.";

const BAD: [string, string[]][] = [
  ["no arguments", []],
  ["missing -C", ["-D", pgdata]],
  ["missing -D", [...C]],
  ["a flag without its value", ["-D"]],
  ["an unknown flag", ["-D", pgdata, ...C, "--no-such-flag"]],
  ["a positional argument", ["-D", pgdata, ...C, "extra"]],
  ["two spec sources", ["-D", pgdata, ...C, "-S", "a.json", "-c", "b.json"]],
  ["-p without -i", ["-D", pgdata, ...C, "-p", "http://cp.example"]],
  ["a value that looks like a flag (node's message spans lines)", ["-D", pgdata, ...C, "--grpc-port", "-1"]],
  ["a bad log format", ["-D", pgdata, ...C, "--log-format", "xml"]],
  ["a bad privileged role name", ["-D", pgdata, ...C, "--privileged-role-name", "Bad-Name"]],
  ["a port that is not a number", ["-D", pgdata, ...C, "--external-http-port", "http"]],
];

for (const [what, argv] of BAD) {
  test(`usage error, ${what}: exit 2, one line and the hint on stderr, nothing done`, () => {
    const r = spawnSync(AGENT_BIN, argv, { encoding: "utf8", timeout: 20_000 });
    assert.equal(r.status, 2, `exit status (stderr: ${r.stderr})`);
    assert.equal(r.stdout, "");
    const lines = r.stderr.split("\n");
    assert.equal(lines.length, 3, `two lines and the final newline: ${JSON.stringify(r.stderr)}`);
    assert.match(lines[0], /^compute_ctl: \S.{5,}$/);
    assert.equal(lines[1], HINT);
    assert.equal(lines[2], "");
    assert.equal(existsSync(pgdata), false, "no data directory made");
  });
}

test("the text of a multi-line message is one line", () => {
  assert.equal(usageErrorText("first\n  second\nthird"), `compute_ctl: first second third\n${HINT}\n`);
});

test("--help and --version: exit 0 on stdout, nothing on stderr", () => {
  const help = spawnSync(AGENT_BIN, ["--help"], { encoding: "utf8" });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^compute_ctl - /);
  assert.equal(help.stderr, "");
  const version = spawnSync(AGENT_BIN, ["-V"], { encoding: "utf8" });
  assert.equal(version.status, 0);
  assert.match(version.stdout, /^compute_ctl \d+\.\d+\.\d+/);
  assert.equal(version.stderr, "");
});
