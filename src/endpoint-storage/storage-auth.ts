// Who may read and write a key. Neon's contract: `Authorization: Bearer <JWT>` signed with the
// control plane's Ed25519 key (EdDSA), claims {tenant_id, timeline_id, endpoint_id, exp}; the
// claims must name the path, except that a GET may read another endpoint of the same timeline
// (prewarming a replica from its primary's state). A missing or undecodable token is 400 and a
// token for another path 401, as Neon answers. Without a key infrastructure, a static shared
// token (compared in constant time) authorises every path instead.

import type { KeyObject } from "node:crypto";
import { timingSafeEqual } from "node:crypto";
import type { KeyPath } from "./key-path.js";

export type AuthOutcome = { ok: true } | { ok: false; status: 400 | 401; message: string };

export interface StorageAuth {
  check(authorization: string | undefined, method: string, path: KeyPath): Promise<AuthOutcome>;
}

function bearer(header: string | undefined): string | null {
  const m = /^Bearer ([\x21-\x7e]+)$/.exec(header ?? "");
  return m ? m[1] : null;
}

export function staticTokenAuth(token: string): StorageAuth {
  const want = Buffer.from(token);
  return {
    async check(authorization) {
      const got = bearer(authorization);
      if (got === null)
        return { ok: false, status: 400, message: "invalid token: expected Authorization: Bearer <token>" };
      const have = Buffer.from(got);
      if (have.length !== want.length || !timingSafeEqual(have, want))
        return { ok: false, status: 401, message: "unauthorized" };
      return { ok: true };
    },
  };
}

export function jwtAuth(publicKey: KeyObject): StorageAuth {
  return {
    async check(authorization, method, path) {
      const token = bearer(authorization);
      if (token === null)
        return { ok: false, status: 400, message: "invalid token: expected Authorization: Bearer <JWT>" };
      const { jwtVerify } = await import("jose");
      let claims: Record<string, unknown>;
      try {
        claims = (await jwtVerify(token, publicKey, { algorithms: ["EdDSA"], requiredClaims: ["exp"] }))
          .payload;
      } catch (err) {
        return { ok: false, status: 400, message: `decoding token: ${(err as Error).message}` };
      }
      const endpointOk = method === "GET" || claims.endpoint_id === path.endpointId;
      if (claims.tenant_id !== path.tenantId || claims.timeline_id !== path.timelineId || !endpointOk)
        return { ok: false, status: 401, message: "unauthorized" };
      return { ok: true };
    },
  };
}
