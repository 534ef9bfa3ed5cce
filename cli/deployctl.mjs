#!/usr/bin/env node
// The `deployctl` bin: loads the TypeScript sources through tsx and runs one command.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0); // `deployctl get … | head`
  throw err;
});
let code;
try {
  code = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`deployctl: unexpected error: ${err && err.stack ? err.stack : err}\n`);
  code = 2;
}
// open keep-alive sockets must not hold the process: the run is over
process.exit(code);
