// The OpenAPI document, generated from the route schemas. `npm run openapi` writes it to
// openapi.yaml; a test fails when the committed file differs.
import type { Store } from '../store/index.js';
import { buildApi } from './app.js';

/** Renders the document without a database: the routes are registered, never called. */
export async function renderOpenApi(): Promise<string> {
  const api = await buildApi({ store: { tokens: {} } as unknown as Store });
  try {
    return api.app.swagger({ yaml: true }) as unknown as string;
  } finally {
    await api.app.close();
  }
}
