// The exporter's Postgres set against the system's Postgres (the matrix runs the same suite for
// each major: test/major-*.test.ts).
import { postgresSetSuite } from "./support/postgres-set-suite.js";

postgresSetSuite({ label: "system Postgres" });
