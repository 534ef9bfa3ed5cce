// Where the API serves HTTPS and the certificate to trust for it: what `deployctl config
// kubeconfig` puts in a kubeconfig, since kubectl sends a token only over TLS.
import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../resources/index.js';
import { ref } from '../shared-schemas.js';

export interface TlsInfo {
  /** The HTTPS base URL, e.g. https://127.0.0.1:6443. */
  url: string;
  /** PEM of the certificate to trust (a self-signed certificate is its own CA). */
  certificate: string;
}

const TlsInfoSchema = Type.Object({
  server: Type.String({ description: 'the HTTPS base URL for kubectl' }),
  certificateAuthorityData: Type.String({ description: 'base64 of the PEM certificate to trust (kubeconfig certificate-authority-data)' }),
});

/** `tls()` answers undefined while (or when) no HTTPS listener runs. */
export function tlsInfoRoutes(app: FastifyInstance, tls: () => TlsInfo | undefined): void {
  app.get('/api/tls', { schema: { tags: ['discovery'], summary: 'The HTTPS endpoint and its certificate, for a kubeconfig (any valid token)', response: { 200: TlsInfoSchema, 404: ref('Status') } } }, async () => {
    const info = tls();
    if (!info) throw new ApiError(404, 'NotFound', 'this deployer serves no HTTPS (DEPLOYER_TLS_PORT=off); kubectl needs https to send a token');
    return { server: info.url, certificateAuthorityData: Buffer.from(info.certificate).toString('base64') };
  });
}
