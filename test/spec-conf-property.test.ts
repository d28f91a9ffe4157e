// Property test (fast-check): for generated `cluster.settings` lists, a spec the parser accepts
// renders a postgresql.conf that Postgres reads back as exactly the spec's settings, in order,
// and nothing else; a spec it refuses names the first setting at fault (a line break in a value,
// a name that is not a parameter name, a value that does not fit its vartype).
//
// What Postgres reads is checked with Postgres itself, cheaply enough for 1,000 specs in CI:
// pg_file_settings runs the server's own config-file parser (guc-file.l, what a reload or a
// start uses) over postgresql.conf at query time, without applying anything. So one running
// instance serves every spec: write the rendered file, query the view. A sample of the accepted
// specs is also loaded with `postgres -C`, which validates every value the way a start does.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import fc from "fast-check";
import type pg from "pg";
import { asUser } from "../src/postgres/os-user.js";
import { parseSpec } from "../src/spec/parse.js";
import { renderPostgresqlConf } from "../src/spec/render-conf.js";
import { SpecError } from "../src/spec/spec-error.js";
import type { GenericOption } from "../src/spec/types.js";
import { pgBinaries, pgOsUser, startTestPostgres, type TestPostgres } from "./support/postgres.js";

const RUNS = 1000;
const POSTGRES_C_SAMPLE = 40;

/** What the generator meant a setting to be, so the test knows the expected verdict. */
type Verdict = "ok" | "bad_name" | "bad_value";
interface GenSetting {
  opt: GenericOption;
  verdict: Verdict;
}

const lineBreak = fc.constantFrom("\n", "\r", "\0", "\r\n");
// Characters that matter to the config lexer, plus ordinary and non-ASCII text.
const trickyChar = fc.oneof(
  fc.constantFrom("'", "\\", '"', "#", "=", " ", "\t", "$", ",", ";", "\x01", "\x7f", "é", "😀", "''", "\\'"),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
);
const safeText = fc.string({ unit: trickyChar, maxLength: 24 });
const ident = fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/);
const customName = ident.map((id) => `cctl_p.${id}`);

const bools = fc.constantFrom("on", "off", "true", "false", "yes", "no", "1", "0", "ON", "Off", "t", "f");
const integers = fc
  .tuple(
    fc.integer({ min: -1000, max: 1_000_000 }),
    fc.constantFrom("", "kB", "MB", "s", "ms", "min"),
    fc.constantFrom("", " "),
  )
  .map(([n, unit, sp]) => (unit ? `${n}${sp}${unit}` : String(n)));
const reals = fc
  .tuple(
    fc.integer({ min: 0, max: 10_000 }),
    fc.integer({ min: 0, max: 999 }),
    fc.constantFrom("", "e-3", "e2"),
  )
  .map(([a, b, e]) => `${a}.${b}${e}`);
const enums = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.+-]{1,12}$/), fc.constant("read committed"));

/** Real parameters Postgres validates, each with values it accepts (for `postgres -C`). */
const realSetting: fc.Arbitrary<GenericOption> = fc.oneof(
  fc.record({
    name: fc.constant("work_mem"),
    value: fc.integer({ min: 64, max: 100_000 }).map((n) => `${n}kB`),
    vartype: fc.constant("integer"),
  }),
  fc.record({
    name: fc.constant("statement_timeout"),
    value: fc.tuple(fc.nat(10_000), fc.constantFrom("", "ms", "s", " min")).map(([n, u]) => `${n}${u}`),
    vartype: fc.constant("integer"),
  }),
  fc.record({ name: fc.constant("enable_seqscan"), value: bools, vartype: fc.constant("bool") }),
  fc.record({ name: fc.constant("random_page_cost"), value: reals, vartype: fc.constant("real") }),
  fc.record({
    name: fc.constant("synchronous_commit"),
    value: fc.constantFrom("on", "off", "local", "remote_write", "remote_apply"),
    vartype: fc.constant("enum"),
  }),
  fc.record({
    name: fc.constant("search_path"),
    value: fc.array(ident, { minLength: 1, maxLength: 3 }).map((ids) => ['"$user"', ...ids].join(", ")),
    vartype: fc.constant("string"),
  }),
);

const okSetting: fc.Arbitrary<GenSetting> = fc.oneof(
  realSetting.map((opt) => ({ opt, verdict: "ok" as const })),
  fc
    .oneof(
      fc.record({ name: customName, value: safeText, vartype: fc.constant("string") }),
      fc.record({ name: customName, value: bools, vartype: fc.constant("bool") }),
      fc.record({ name: customName, value: integers, vartype: fc.constantFrom("integer", "int") }),
      fc.record({ name: customName, value: reals, vartype: fc.constant("real") }),
      fc.record({ name: customName, value: enums, vartype: fc.constant("enum") }),
    )
    .map((opt) => ({ opt, verdict: "ok" as const })),
);

const injectedValue: fc.Arbitrary<GenSetting> = fc
  .record({
    name: fc.oneof(customName, fc.constant("work_mem")),
    value: fc.tuple(safeText, lineBreak, safeText).map(([a, br, b]) => `${a}${br}${b}`),
    vartype: fc.constantFrom("string", "integer", "bool", "real", "enum"),
  })
  .map((opt) => ({ opt, verdict: "bad_value" as const }));

const badName: fc.Arbitrary<GenSetting> = fc
  .oneof(
    fc.tuple(ident, lineBreak, fc.constant("archive_command = 'touch /tmp/x'")).map((p) => p.join("")),
    fc.string({ unit: trickyChar, minLength: 1, maxLength: 12 }),
    fc.constant("a.b.c"),
  )
  .filter((name) => !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(name))
  .map((name) => ({ opt: { name, value: "1", vartype: "integer" }, verdict: "bad_name" as const }));

const badTyped: fc.Arbitrary<GenSetting> = fc
  .oneof(
    fc.record({
      name: customName,
      value: fc.constantFrom("maybe", "on off", "'on'"),
      vartype: fc.constant("bool"),
    }),
    fc.record({
      name: customName,
      value: fc.constantFrom("abc", "1;2", "'1'", "1 = 2"),
      vartype: fc.constant("integer"),
    }),
    fc.record({
      name: customName,
      value: fc.constantFrom("hot  standby", "a'b", "", "x "),
      vartype: fc.constant("enum"),
    }),
  )
  .map((opt) => ({ opt, verdict: "bad_value" as const }));

const settingsArb = fc.array(
  fc.oneof(
    { weight: 8, arbitrary: okSetting },
    { weight: 1, arbitrary: injectedValue },
    { weight: 1, arbitrary: badName },
    { weight: 1, arbitrary: badTyped },
  ),
  { maxLength: 8 },
);

let pgInstance: TestPostgres;
let client: pg.Client;
before(async () => {
  pgInstance = await startTestPostgres();
  client = await pgInstance.client();
});
after(async () => {
  await client?.end();
  await pgInstance?.stop();
});

const AGENT_LINES = {
  port: 5432,
  socketDir: "/tmp",
  privilegedRoleName: "neon_superuser",
  internalHttpPort: 3081,
};
const AGENT_NAMES = new Set([
  "port",
  "unix_socket_directories",
  "lc_messages",
  "lc_monetary",
  "lc_time",
  "lc_numeric",
  "neon.privileged_role_name",
  "neon.extension_server_port",
]);

interface FileRow {
  sourceline: number;
  name: string | null;
  setting: string | null;
  error: string | null;
}

test(`postgresql.conf holds exactly the spec's settings (${RUNS} generated specs, checked by Postgres)`, async () => {
  const confFile = path.join(pgInstance.pgdata, "postgresql.conf");
  let accepted = 0;
  let refusedCount = 0;
  let sampled = 0;
  await fc.assert(
    fc.asyncProperty(settingsArb, async (generated) => {
      const settings = generated.map((g) => g.opt);
      const input = {
        format_version: 1,
        suspend_timeout_seconds: -1,
        cluster: { roles: [], databases: [], settings },
      };
      const firstBad = generated.findIndex((g) => g.verdict !== "ok");
      let spec: ReturnType<typeof parseSpec>;
      try {
        spec = parseSpec(input);
      } catch (err) {
        assert.ok(err instanceof SpecError, String(err));
        assert.notEqual(firstBad, -1, `refused a spec the generator meant to be valid: ${err.message}`);
        const at = `$.cluster.settings[${firstBad}]`;
        const expected = generated[firstBad].verdict === "bad_name" ? `${at}.name` : `${at}.value`;
        assert.equal(err.path, expected, err.message);
        refusedCount++;
        return;
      }
      assert.equal(firstBad, -1, `accepted ${JSON.stringify(generated[firstBad]?.opt)}`);
      accepted++;

      const conf = renderPostgresqlConf(spec, AGENT_LINES, []);
      const lines = conf.split("\n");
      const begin = lines.indexOf("# Managed by compute_ctl: begin") + 1;
      const end = lines.indexOf("# Managed by compute_ctl: end") + 1;
      writeFileSync(confFile, conf);
      const { rows } = await client.query<FileRow>(
        "SELECT sourceline, name, setting, error FROM pg_file_settings WHERE sourcefile = $1 ORDER BY seqno",
        [confFile],
      );
      const managed = rows.filter((r) => r.sourceline > begin && r.sourceline < end);
      assert.deepEqual(
        managed.map((r) => ({ name: r.name, setting: r.setting, error: r.error })),
        settings.map((s) => ({ name: s.name, setting: s.value, error: null })),
      );
      // Nothing outside the managed block but the agent's own lines.
      for (const r of rows.filter((r) => !managed.includes(r))) {
        assert.ok(r.name !== null && AGENT_NAMES.has(r.name), `unexpected line ${JSON.stringify(r)}`);
      }

      // A sample goes through a real start's validation of every value.
      if (settings.length > 0 && sampled < POSTGRES_C_SAMPLE) {
        sampled++;
        const custom = settings.findLast((s) => s.name.startsWith("cctl_p."));
        const shown = custom?.name ?? "port";
        const { stdout } = await promisify(execFile)(
          pgBinaries.postgres,
          ["-D", pgInstance.pgdata, "-C", shown],
          asUser(pgOsUser),
        );
        if (custom) assert.equal(stdout.replace(/\n$/, ""), custom.value);
      }
    }),
    { numRuns: RUNS },
  );
  assert.ok(accepted > RUNS / 4, `only ${accepted} specs accepted`);
  assert.ok(refusedCount > RUNS / 10, `only ${refusedCount} specs refused`);
  assert.equal(sampled, POSTGRES_C_SAMPLE);
});
