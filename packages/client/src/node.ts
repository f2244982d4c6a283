// '@synod/client/node': the client for Node programs, over node:http (keep-alive sockets, TLS with a
// private CA and client certificates). The main entry stays free of node: imports (browser-safe).
import { SynodClient, type SynodClientOptions } from './client.js'
import { nodeTransport } from './node/transport.js'

export { nodeTransport } from './node/transport.js'
export type { NodeTransportOptions } from './node/transport.js'

/** A SynodClient whose default transport is node:http with `options.tls` (when given). */
export class NodeSynodClient extends SynodClient {
  constructor(endpoints: string | readonly string[], options: SynodClientOptions = {}) {
    super(endpoints, { ...options, transport: options.transport ?? nodeTransport(options.tls === undefined ? {} : { tls: options.tls }) })
  }
}
