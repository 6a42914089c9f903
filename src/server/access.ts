/**
 * Who is calling, and what they may see. With `API_KEYS=key:user,…` each key belongs to a
 * user, who sees only what they own (another user's job or file is a 404, never a 403, so
 * ids cannot be probed). A key without `:user` is an operator key: it sees everything, and
 * so does every caller when no keys are configured.
 */
export type Principal = { readonly kind: "operator" } | { readonly kind: "user"; readonly userId: string };

export const OPERATOR: Principal = Object.freeze({ kind: "operator" });

export function userPrincipal(userId: string): Principal {
  return { kind: "user", userId };
}

/**
 * Whose a new job or file is: a user's own, whatever they ask; an operator may name a user
 * (seed 000's `user_id`) or leave it unowned.
 */
export function ownerFor(principal: Principal, requestedUserId?: string | null): string | null {
  return principal.kind === "user" ? principal.userId : (requestedUserId ?? null);
}

/** Whether `principal` may see a thing owned by `ownerId`. */
export function canAccess(principal: Principal, ownerId: string | null): boolean {
  return principal.kind === "operator" || ownerId === principal.userId;
}

/** The user a listing is restricted to, or null for an operator (no restriction). */
export function ownerFilter(principal: Principal): string | null {
  return principal.kind === "user" ? principal.userId : null;
}
