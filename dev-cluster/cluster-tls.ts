// `dev up --tls`: the cluster's own CA in <dir>/tls and a certificate for each of its HTTPS
// services, the coordinator and the load balancer's relay, both named by the cluster's
// gateway address, where the hosts and the CLI reach them.
import { dirname, join } from 'node:path';
import type { ServerTls } from '../shared/contract/tls-config.js';
import { gatewayOf, type DevClusterState } from './cluster-state.js';
import { createLocalCa, issueServerCertificate } from './local-ca.js';

export type TlsService = 'coordinator' | 'lb-relay';

/** Makes the CA and both certificates; returns the CA file that the hosts and the CLI trust. */
export async function makeClusterTls(state: Pick<DevClusterState, 'dir' | 'name' | 'subnet'>): Promise<string> {
  const ca = await createLocalCa(join(state.dir, 'tls'), state.name);
  const gateway = gatewayOf(state.subnet);
  for (const service of ['coordinator', 'lb-relay'] satisfies TlsService[]) await issueServerCertificate(ca, service, [gateway]);
  return ca.caFile;
}

/** The certificate and key `service` serves; undefined for a cluster without TLS. */
export function serverTlsOf(state: Pick<DevClusterState, 'caFile'>, service: TlsService): ServerTls | undefined {
  if (state.caFile === undefined) return undefined;
  const dir = dirname(state.caFile);
  return { certFile: join(dir, `${service}.crt`), keyFile: join(dir, `${service}.key`) };
}
