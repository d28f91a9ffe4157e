// Every start is a fresh start: remove the data directory and recreate it empty, mode 0700,
// owned by the Postgres OS user.
import { chown, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { StartupContext } from "../startup-context.js";
import type { Step } from "./step.js";

export async function recreateDataDir(
  pgdata: string,
  owner: { uid: number; gid: number } | null,
): Promise<void> {
  await rm(pgdata, { recursive: true, force: true });
  // Parents get ordinary permissions (the Postgres user must be able to traverse them).
  await mkdir(path.dirname(pgdata), { recursive: true, mode: 0o755 });
  await mkdir(pgdata, { mode: 0o700 });
  if (owner) await chown(pgdata, owner.uid, owner.gid);
}

export const preparePgdataStep: Step<StartupContext> = {
  name: "prepare_pgdata",
  metric: "prepare_pgdata_ms",
  run: (ctx) => recreateDataDir(ctx.options.pgdata, ctx.osUser),
};
