// Planning of role renames (delta `rename_role`) and of spec roles: create the missing ones as
// members of the privileged role (except the roles local_proxy authenticates with JWTs, named in
// local_proxy_config.jwks[].role_names, which Neon creates without it), alter existing ones only
// when the password or an option the spec names really differs. Roles absent from the spec are
// left alone.
import { quoteIdent } from "../postgres/quote.js";
import type { DeltaOp, Role } from "../spec/types.js";
import type { CatalogModel } from "./catalog-model.js";
import { PlanError } from "./plan-error.js";
import { attributesDiffer, desiredAttributes, optionsSetLogin } from "./role-attributes.js";
import { passwordAfterRename, passwordClause, passwordMatches, storedPassword } from "./role-password.js";
import { OptionError, renderOptions } from "./sql-options.js";
import { type PlannedStatement, statement } from "./statement.js";

export function planRoleRenames(model: CatalogModel, deltas: readonly DeltaOp[]): PlannedStatement[] {
  const out: PlannedStatement[] = [];
  deltas.forEach((op, i) => {
    if (op.action !== "rename_role") return;
    if (!op.new_name) throw new PlanError(`delta_operations[${i}].new_name`, "rename_role needs a new_name");
    const role = model.roles.get(op.name);
    // Already renamed (a repeated delta list) or never existed: nothing to do.
    if (!role || op.name === op.new_name) return;
    out.push(
      statement(
        "rename role",
        op.name,
        `ALTER ROLE ${quoteIdent(op.name)} RENAME TO ${quoteIdent(op.new_name)}`,
      ),
    );
    model.renameRole(role, op.new_name);
    role.password = passwordAfterRename(role.password);
  });
  return out;
}

function roleOptions(role: Role, index: number): string {
  try {
    const rendered = renderOptions(role.options);
    const login = optionsSetLogin(role.options) ? "" : "LOGIN";
    return [rendered, login].filter(Boolean).join(" ");
  } catch (err) {
    if (err instanceof OptionError) throw new PlanError(`cluster.roles[${index}].options`, err.message);
    throw err;
  }
}

export function planRoles(
  model: CatalogModel,
  roles: readonly Role[],
  privilegedRole: string,
  /** Roles created without membership in the privileged role (local_proxy's JWT roles). */
  plainRoles: ReadonlySet<string> = new Set(),
): PlannedStatement[] {
  const out: PlannedStatement[] = [];
  roles.forEach((role, i) => {
    const name = quoteIdent(role.name);
    const options = roleOptions(role, i);
    const existing = model.roles.get(role.name);
    const want = desiredAttributes(role.options);
    if (!existing) {
      const pw = passwordClause(role.encrypted_password);
      const membership = plainRoles.has(role.name) ? "" : ` IN ROLE ${quoteIdent(privilegedRole)}`;
      const head = `CREATE ROLE ${name}${membership} ${options}`.trimEnd();
      out.push(statement("create role", role.name, `${head} ${pw.sql}`, `${head} ${pw.redacted}`));
      model.roles.set(role.name, {
        oid: null,
        name: role.name,
        password: storedPassword(role.encrypted_password),
        attributes: null,
      });
      return;
    }
    const passwordSame = passwordMatches(role.encrypted_password, existing.password);
    const attributesSame = existing.attributes !== null && !attributesDiffer(want, existing.attributes);
    // A role created earlier in this plan is already as the spec wants it.
    if (passwordSame && (attributesSame || existing.attributes === null)) return;
    const head = `ALTER ROLE ${name} ${options}`.trimEnd();
    if (passwordSame) {
      out.push(statement("alter role", role.name, head));
    } else {
      const pw = passwordClause(role.encrypted_password);
      out.push(statement("alter role", role.name, `${head} ${pw.sql}`, `${head} ${pw.redacted}`));
      existing.password = storedPassword(role.encrypted_password);
    }
    if (existing.attributes) existing.attributes = { ...existing.attributes, ...want };
  });
  return out;
}
