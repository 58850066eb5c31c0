// node:http and node:https, loaded with require rather than import. An import of a built-in
// module reads every one of its exports, and on Node 22 and later node:http's lazy getters
// (WebSocket, MessageEvent and the like) then load undici: about 40 ms of CPU on every
// `grapevine deploy`, the command's whole start-up budget (Node 20 has no such getters).
import { createRequire } from 'node:module';

const builtin = createRequire(import.meta.url);

export const http = builtin('node:http') as typeof import('node:http');

/** node:https, loaded when first asked for: only an https:// URL needs TLS. */
export function https(): typeof import('node:https') {
  return builtin('node:https') as typeof import('node:https');
}
