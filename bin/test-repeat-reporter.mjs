// A node:test reporter for bin/test-repeat.mjs: one JSON line per finished test (pass or fail)
// with its file and nesting depth, so the repeat script can count failures per test.
export default async function* testRepeatReporter(source) {
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    const error = d.details?.error;
    const cause = error?.cause;
    yield `${JSON.stringify({
      file: d.file ?? null,
      nesting: d.nesting,
      name: d.name,
      ok: event.type === "test:pass",
      onlySubtestsFailed: error?.failureType === "subtestsFailed",
      error: error ? String(cause?.message ?? cause ?? error.message ?? error).slice(0, 500) : undefined,
    })}\n`;
  }
}
