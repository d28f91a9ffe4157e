// Writes settings into the `[pgbouncer]` section of a pgbouncer.ini, keeping everything else of
// the file as it is (comments, order, the other sections): an existing `key = value` line is
// replaced in place, a new key is added at the end of the section, and a file without the
// section gets one. Pure: text in, text out. (INI libraries rewrite the whole file and lose its
// comments, which is why this is not one.)

const SECTION = /^\s*\[([^\]]+)\]\s*$/;
const SETTING = /^\s*([A-Za-z0-9_.]+)\s*=/;

export function updatePgbouncerIni(text: string, settings: Readonly<Record<string, string>>): string {
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const wanted = new Map(Object.entries(settings));
  const render = (key: string) => `${key} = ${wanted.get(key)}`;
  const done = new Set<string>();
  let inSection = false;
  let sectionEnd = -1;
  const out: string[] = [];
  for (const line of lines) {
    const section = SECTION.exec(line);
    if (section) {
      if (inSection) sectionEnd = out.length;
      inSection = section[1].trim().toLowerCase() === "pgbouncer";
      out.push(line);
      continue;
    }
    const setting = inSection ? SETTING.exec(line) : null;
    if (setting && wanted.has(setting[1])) {
      // A key given twice in the file: the first line takes the value, the others go.
      if (!done.has(setting[1])) out.push(render(setting[1]));
      done.add(setting[1]);
      continue;
    }
    out.push(line);
  }
  if (inSection) sectionEnd = out.length;
  const missing = [...wanted.keys()].filter((k) => !done.has(k)).map(render);
  if (missing.length > 0) {
    if (sectionEnd === -1) {
      if (out.length > 0 && out.at(-1)?.trim() !== "") out.push("");
      out.push("[pgbouncer]", ...missing);
    } else {
      // Before the blank lines that close the section.
      let at = sectionEnd;
      while (at > 0 && out[at - 1].trim() === "") at--;
      out.splice(at, 0, ...missing);
    }
  }
  return `${out.join("\n")}\n`;
}
