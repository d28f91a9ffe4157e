// The version suite on PostgreSQL 15 (npm server binaries): test/support/major-suite.ts.
import { majorSuite } from "./support/major-suite.js";

majorSuite(15);
