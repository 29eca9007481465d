/**
 * Names a viewer may not take: words that claim a role (host, admin, moderator…).
 * Hosts are shown with a Host badge; a viewer calling themselves "Alice (host)"
 * would otherwise look like one. Its own module (no zod) so the lobby page stays small.
 */
export const RESERVED_NAME_WORDS = ['host', 'admin', 'administrator', 'moderator', 'mod', 'broadcaster', 'staff', 'official', 'fourcast'];

export function isReservedName(name: string): boolean {
  const words = name.toLowerCase().normalize('NFKC').split(/[^\p{L}\p{N}]+/u);
  return words.some((w) => RESERVED_NAME_WORDS.includes(w));
}
