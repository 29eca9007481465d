/**
 * Cluster mode: all of a room's broadcasters go live on its origin node (viewers on other
 * nodes get them through the cascade). The broadcaster page asks the node it was opened on,
 * and opens the same link on the origin instead when that is another node.
 */
export async function moveToStageNode(room: string): Promise<boolean> {
  const r = await fetch(`/api/stage-node?room=${encodeURIComponent(room)}`).catch(() => undefined);
  if (!r?.ok) return false;
  const { httpUrl } = (await r.json()) as { httpUrl: string | null };
  return httpUrl ? openOn(httpUrl) : false;
}

/** Opens this page (same path, same link parameters) on the node at `httpUrl`; false when that is this node. */
export function openOn(httpUrl: string): boolean {
  const target = new URL(location.pathname + location.search + location.hash, httpUrl);
  if (target.origin === location.origin) return false;
  location.replace(target.toString());
  return true;
}
