// The planner's working copy of the catalog: starts as the snapshot and is updated by every
// planned rename, create and drop, so later phases see the state earlier ones leave behind
// (as Neon's mutable apply context does). Objects created by this plan have no oid yet.
import type { CatalogSnapshot, DatabaseState, RoleState } from "./catalog-snapshot.js";
import type { RoleAttributes } from "./role-attributes.js";

export interface ModelRole {
  oid: number | null;
  name: string;
  password: string | null;
  attributes: RoleAttributes | null;
}

export interface ModelDatabase extends Omit<DatabaseState, "oid"> {
  oid: number | null;
}

function roleFrom(r: RoleState): ModelRole {
  const { oid, name, password, ...attributes } = r;
  return { oid, name, password, attributes };
}

export class CatalogModel {
  readonly roles = new Map<string, ModelRole>();
  readonly databases = new Map<string, ModelDatabase>();

  constructor(snapshot: CatalogSnapshot) {
    for (const r of snapshot.roles) this.roles.set(r.name, roleFrom(r));
    for (const d of snapshot.databases) this.databases.set(d.name, { ...d });
  }

  renameRole(role: ModelRole, to: string): void {
    const from = role.name;
    this.roles.delete(from);
    role.name = to;
    this.roles.set(to, role);
    for (const d of this.databases.values()) if (d.owner === from) d.owner = to;
  }

  renameDatabase(db: ModelDatabase, to: string): void {
    this.databases.delete(db.name);
    db.name = to;
    this.databases.set(to, db);
  }

  databaseByOid(oid: number): ModelDatabase | undefined {
    for (const d of this.databases.values()) if (d.oid === oid) return d;
    return undefined;
  }
}
