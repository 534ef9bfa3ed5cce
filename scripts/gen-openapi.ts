// Writes openapi.yaml from the API's route schemas (npm run openapi).
import { writeFile } from 'node:fs/promises';
import { renderOpenApi } from '../api/openapi.js';

const out = new URL('../openapi.yaml', import.meta.url);
await writeFile(out, await renderOpenApi());
process.stdout.write(`wrote ${out.pathname}\n`);
