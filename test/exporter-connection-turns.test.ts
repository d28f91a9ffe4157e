// The exporter's one session takes queries in turns: callers that ask at once (the autoscaling
// set, the Postgres set, the buffer sampler) never hand pg a query while another runs, so pg's
// "already executing a query" deprecation warning never fires; a caller whose time runs out
// while waiting gives up without costing the session; the server's capabilities are known.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { pino } from "pino";
import { ExporterConnection, QueryTimeoutError } from "../src/exporter/exporter-connection.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

let pgsrv: TestPostgres;
let conn: ExporterConnection;
const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);

before(async () => {
  pgsrv = await startTestPostgres();
  process.on("warning", onWarning);
  conn = new ExporterConnection({
    connstr: pgsrv.connstr(),
    statementTimeoutMs: 5000,
    lockTimeoutMs: 1000,
    connectTimeoutMs: 5000,
    log: pino({ level: "silent" }),
  });
});

after(async () => {
  process.off("warning", onWarning);
  await conn?.close();
  await pgsrv?.stop();
});

type Span = { started: string; ended: string };

test("concurrent callers run one after another on one session, with no pg deprecation warning", async () => {
  const sql = `SELECT pg_catalog.clock_timestamp()::text AS started, pg_catalog.pg_sleep(0.05),
                      pg_catalog.clock_timestamp()::text AS ended, pg_catalog.pg_backend_pid() AS pid`;
  const results = await Promise.all(
    Array.from({ length: 6 }, (_, i) => conn.query<Span & { pid: number }>(`q${i}`, sql, 10_000)),
  );
  const rows = results.map((r) => (Array.isArray(r) ? r[0] : r).rows[0]);
  assert.equal(new Set(rows.map((r) => r.pid)).size, 1, "one session");
  assert.equal(conn.connects, 1);
  const spans = rows.map((r) => [Date.parse(r.started), Date.parse(r.ended)]).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    assert.ok(spans[i][0] >= spans[i - 1][1], `query ${i} started after query ${i - 1} ended`);
  }
  // Node emits a DeprecationWarning on the next tick; give it that tick.
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    warnings.map((w) => w.message),
    [],
  );
});

test("a caller that cannot get its turn in time fails without dropping the session", async () => {
  const slow = conn.query("slow", "SELECT pg_catalog.pg_sleep(0.4)", 5000);
  const queued = conn.query("queued", "SELECT 1", 100);
  await assert.rejects(queued, (err: unknown) => {
    assert.ok(err instanceof QueryTimeoutError);
    assert.match(err.message, /^queued: not started within 100 ms \(the session was busy/);
    return true;
  });
  await slow;
  const after = (await conn.query<{ one: number }>("after", "SELECT 1 AS one", 5000)) as {
    rows: { one: number }[];
  };
  assert.equal(after.rows[0].one, 1);
  assert.equal(conn.connects, 1, "the session survived");
});

test("each connection knows the server's capabilities, and queries may be built from them", async () => {
  const [{ server_version_num }] = await pgsrv.query<{ server_version_num: string }>(
    "SHOW server_version_num",
  );
  assert.equal(conn.capabilities?.versionNum, Number(server_version_num));
  const r = (await conn.query<{ major: number }>(
    "built",
    (caps) => ({ text: "SELECT $1::int AS major", values: [caps.major] }),
    5000,
  )) as { rows: { major: number }[] };
  assert.equal(r.rows[0].major, Math.floor(Number(server_version_num) / 10000));
});
