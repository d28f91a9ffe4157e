// What a `cluster.settings` entry may hold so that postgresql.conf cannot be broken out of: the
// name is a GUC identifier as Postgres's config lexer reads it (`name` or `ext.name`), the value
// matches its vartype, and no value anywhere in the file may carry a line break or NUL (a line
// break ends the setting and starts a new one of the sender's choosing). The renderer quotes
// every value, so the checks here are what keeps a value's meaning, not what keeps the file safe.
import { SpecError } from "./spec-error.js";
import type { GenericOption } from "./types.js";

/** `{LETTER}{LETTER_OR_DIGIT}*` (ASCII only), at most once qualified: guc-file.l's ID and QUALIFIED_ID. */
const GUC_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
const MAX_NAME_BYTES = 200;
/** Far above any real setting (shared_preload_libraries, connection strings), far below harm. */
export const MAX_SETTING_VALUE_BYTES = 64 * 1024;

/** Characters that end a postgresql.conf line or the file: never allowed in a rendered value. */
export const CONF_LINE_BREAK = /[\n\r\0]/;

// parse_bool (including the prefixes it accepts): t/tr/tru/true, f/.../false, y/ye/yes, n/no,
// on, of/off, 1, 0.
const BOOL = /^(t(r(ue?)?)?|f(a(l(se?)?)?)?|y(es?)?|no?|on|off?|[01])$/i;
// parse_int/parse_real: decimal, hex (integers), fractions and exponents, then an optional unit.
const INTEGER = /^[ \t]*[+-]?(0x[0-9a-f]+|(\d+\.?\d*|\.\d+)(e[+-]?\d+)?)[ \t]*[a-z]*[ \t]*$/i;
const REAL = /^[ \t]*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?[ \t]*[a-z]*[ \t]*$/i;
// Enum labels are words, a few of them several: replica, hot_standby, TLSv1.2, read committed.
const ENUM = /^(?=.{1,64}$)[A-Za-z0-9_.+-]+( [A-Za-z0-9_.+-]+)*$/;

const VARTYPES: Record<string, { pattern: RegExp | null; expected: string }> = {
  bool: { pattern: BOOL, expected: "a boolean (on, off, true, false, yes, no, 1, 0)" },
  integer: { pattern: INTEGER, expected: "an integer, optionally with a unit (4MB, 30s)" },
  int: { pattern: INTEGER, expected: "an integer, optionally with a unit (4MB, 30s)" },
  real: { pattern: REAL, expected: "a number, optionally with a unit (0.5, 1e-3, 2ms)" },
  enum: { pattern: ENUM, expected: "an enum label (words such as replica or read committed)" },
  string: { pattern: null, expected: "text" },
};

/** A value that ends up in postgresql.conf (a setting, a storage address, an id): no line breaks. */
export function checkConfText(path: string, value: string): void {
  const bad = CONF_LINE_BREAK.exec(value);
  if (bad) {
    const what =
      bad[0] === "\0" ? "a NUL byte" : bad[0] === "\n" ? "a line break (\\n)" : "a carriage return";
    throw new SpecError(path, `contains ${what}; values written to postgresql.conf must be a single line`);
  }
}

export function checkSetting(opt: GenericOption, path: string): void {
  if (!GUC_NAME.test(opt.name) || opt.name.length > MAX_NAME_BYTES) {
    throw new SpecError(
      `${path}.name`,
      `${JSON.stringify(opt.name.slice(0, 80))} is not a configuration parameter name ` +
        "(letters, digits and _, starting with a letter or _, optionally qualified once: ext.name)",
    );
  }
  const type = Object.hasOwn(VARTYPES, opt.vartype) ? VARTYPES[opt.vartype] : undefined;
  if (!type) {
    throw new SpecError(
      `${path}.vartype`,
      `unknown vartype ${JSON.stringify(opt.vartype.slice(0, 40))}; expected bool, integer, real, enum or string`,
    );
  }
  if (opt.value === null) {
    throw new SpecError(`${path}.value`, "a setting needs a value (Postgres cannot read a bare name)");
  }
  checkConfText(`${path}.value`, opt.value);
  if (Buffer.byteLength(opt.value) > MAX_SETTING_VALUE_BYTES) {
    throw new SpecError(`${path}.value`, `longer than ${MAX_SETTING_VALUE_BYTES} bytes`);
  }
  if (type.pattern && !type.pattern.test(opt.value)) {
    throw new SpecError(
      `${path}.value`,
      `${JSON.stringify(opt.value.slice(0, 80))} is not ${type.expected} (vartype ${opt.vartype}); ` +
        'use vartype "string" for text',
    );
  }
}
