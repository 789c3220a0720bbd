/**
 * A conversation's messages as a tree: each message names the one it follows, so an edit or a regenerated
 * answer is a sibling of the message it replaces and nothing is ever overwritten. The branch shown is the
 * path from a first message to the current one.
 */
import type { ChatMessageRecord, ConversationMessage, MessageNode } from '../contract/index.js';

/** The messages from the first to `currentId`, each with the other versions of its turn when it has any. */
export function branchPath(nodes: readonly MessageNode[], currentId: string | null): ConversationMessage[] {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const path: MessageNode[] = [];
  for (let node = lookup(byId, currentId); node; node = lookup(byId, node.parentId)) path.push(node);
  path.reverse();
  const children = childrenOf(nodes);
  return path.map(({ parentId, ...message }) => {
    const ids = (children.get(parentId) ?? []).map((sibling) => sibling.id);
    return ids.length > 1 ? { ...message, branch: { index: ids.indexOf(message.id), ids } } : message;
  });
}

/** Where the branch through `id` was last continued: the newest message below it (or itself). */
export function newestLeaf(nodes: readonly MessageNode[], id: string): string {
  const children = childrenOf(nodes);
  let newest = nodes.find((node) => node.id === id);
  if (!newest) return id;
  const below = [...(children.get(id) ?? [])];
  while (below.length > 0) {
    const node = below.pop()!;
    if (node.createdAt >= newest.createdAt) newest = node;
    below.push(...(children.get(node.id) ?? []));
  }
  // Timestamps from an imported file may be odd: always end at a message nothing follows.
  for (let next = children.get(newest.id)?.at(-1); next; next = children.get(newest.id)?.at(-1)) newest = next;
  return newest.id;
}

/** The first build's flat list of messages becomes one branch, each message following the one before. */
export function chain(messages: readonly ChatMessageRecord[]): MessageNode[] {
  return messages.map((message, at) => ({ ...message, parentId: at === 0 ? null : messages[at - 1]!.id }));
}

/** Why `nodes` are not one conversation's tree (a repeated id, a missing parent, a loop), or null. */
export function treeFault(nodes: readonly Link[], currentId: string | null): string | null {
  const byId = new Map<string, Link>();
  for (const node of nodes) {
    if (byId.has(node.id)) return `message id "${node.id}" appears twice`;
    byId.set(node.id, node);
  }
  for (const node of nodes) {
    if (node.parentId !== null && !byId.has(node.parentId)) return `message "${node.id}" follows "${node.parentId}", which is not there`;
  }
  // Every walk towards a first message must end: a message that (indirectly) follows itself is a loop.
  const reachesRoot = new Set<string>();
  for (const node of nodes) {
    const seen = new Set<string>();
    for (let at: Link | undefined = node; at && !reachesRoot.has(at.id); at = lookup(byId, at.parentId)) {
      if (seen.has(at.id)) return `message "${node.id}" follows itself`;
      seen.add(at.id);
    }
    for (const id of seen) reachesRoot.add(id);
  }
  if (currentId === null ? nodes.length > 0 : !byId.has(currentId)) {
    return currentId === null ? 'currentId is missing' : `currentId "${currentId}" is not one of its messages`;
  }
  return null;
}

/** The messages that follow each message (null: the first messages), oldest first. */
function childrenOf(nodes: readonly MessageNode[]): Map<string | null, MessageNode[]> {
  const children = new Map<string | null, MessageNode[]>();
  for (const node of nodes) {
    const list = children.get(node.parentId);
    if (list) list.push(node);
    else children.set(node.parentId, [node]);
  }
  for (const list of children.values()) list.sort((a, b) => a.createdAt - b.createdAt);
  return children;
}

/** What the tree's shape needs of a message. */
type Link = Pick<MessageNode, 'id' | 'parentId'>;

function lookup<T extends Link>(byId: ReadonlyMap<string, T>, id: string | null): T | undefined {
  return id === null ? undefined : byId.get(id);
}
