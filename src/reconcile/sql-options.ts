// Renders a spec's GenericOption list as SQL options for CREATE/ALTER ROLE and CREATE DATABASE
// (Neon's `to_pg_option`): `NAME` when the value is null, `NAME '<literal>'` for vartype
// "string", else `NAME value`. Neon pastes names and raw values as they are; we only accept
// keyword-shaped names and number- or word-shaped raw values so a spec cannot inject SQL.
import { quoteLiteral } from "../postgres/quote.js";
import type { GenericOption } from "../spec/types.js";

const OPTION_NAME = /^[A-Za-z][A-Za-z_]*( [A-Za-z][A-Za-z_]*)*$/;
const RAW_VALUE = /^([+-]?[0-9]+(\.[0-9]+)?|[A-Za-z_][A-Za-z0-9_]*)$/;

export class OptionError extends Error {
  override readonly name = "OptionError";
}

export function renderOption(opt: GenericOption): string {
  if (!OPTION_NAME.test(opt.name)) throw new OptionError(`invalid option name ${JSON.stringify(opt.name)}`);
  if (opt.value === null) return opt.name;
  if (opt.vartype === "string") return `${opt.name} ${quoteLiteral(opt.value)}`;
  if (!RAW_VALUE.test(opt.value)) {
    throw new OptionError(
      `invalid value ${JSON.stringify(opt.value)} for option ${opt.name} (vartype ${JSON.stringify(opt.vartype)} must be a number or a word; use vartype "string" for text)`,
    );
  }
  return `${opt.name} ${opt.value}`;
}

/** Options joined with spaces; "" for none. */
export function renderOptions(options: readonly GenericOption[] | null | undefined): string {
  return (options ?? []).map(renderOption).join(" ");
}

/** The option name in canonical form for comparisons: upper case, single spaces. */
export function optionKey(opt: GenericOption): string {
  return opt.name.trim().replace(/\s+/g, " ").toUpperCase();
}
