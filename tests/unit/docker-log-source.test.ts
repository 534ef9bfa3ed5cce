// The log endpoint's source (docker/log-source.ts) streams a server's container only when its
// labels say it is that server's — this installation, the ProjectServer's uid — not any
// container that happens to have the name (a deleted and re-created server's leftover, or
// another installation whose id starts with the same six characters).
import t from 'tap';
import { containerLogSource, containerName, managedLabels, type ContainerRuntime, type ContainerState } from '../../docker/index.js';

const INSTALLATION = 'abcdef0123456789';
const SERVER = { namespace: 'team', name: 'blog', uid: '11111111-1111-4111-8111-111111111111' };
const base = containerName(INSTALLATION, SERVER);

function runtime(containers: Record<string, { installation?: string; uid?: string; labels?: Record<string, string> }>) {
  const read: string[] = [];
  const state = (name: string): ContainerState | null => {
    const c = containers[name];
    if (!c) return null;
    const labels =
      c.labels ?? managedLabels(c.installation ?? INSTALLATION, { kind: 'ProjectServer', namespace: SERVER.namespace, name: SERVER.name, uid: c.uid ?? SERVER.uid }, 'server');
    return { id: `id-${name}`, name, labels } as unknown as ContainerState;
  };
  const rt = {
    inspect: async (name: string) => state(name),
    logs: async (id: string) => (read.push(id), `log of ${id}\n`),
    followLogs: async (id: string, _o: unknown, onLine: (l: string) => void) => {
      read.push(id);
      onLine(`log of ${id}`);
    },
  } as unknown as ContainerRuntime;
  return { rt, read };
}

t.test('the server’s own container is streamed, slot a or b', async (t) => {
  const { rt, read } = runtime({ [base]: {} });
  const logs = containerLogSource(rt, async () => INSTALLATION);
  t.equal(await logs.tail(SERVER, 10), `log of id-${base}\n`);
  const b = runtime({ [`${base}_b`]: {} });
  t.equal(await containerLogSource(b.rt, async () => INSTALLATION).tail(SERVER, 10), `log of id-${base}_b\n`, 'slot b');
  const lines: string[] = [];
  t.equal(await logs.follow(SERVER, { tail: 1, signal: new AbortController().signal, opened: () => lines.push('opened') }, (l) => lines.push(l)), true);
  t.same(lines, ['opened', `log of id-${base}`]);
  t.same(read, [`id-${base}`, `id-${base}`]);
});

t.test('a container with the name but another owner is not streamed', async (t) => {
  const cases: [string, Record<string, { installation?: string; uid?: string; labels?: Record<string, string> }>][] = [
    ['a deleted server’s leftover (another uid)', { [base]: { uid: '22222222-2222-4222-8222-222222222222' } }],
    ['another installation with the same six-character prefix', { [base]: { installation: 'abcdef9999999999' } }],
    ['no deployer labels at all', { [base]: { labels: {} } }],
    ['a helper of the server, not its container', { [base]: { labels: managedLabels(INSTALLATION, { kind: 'ProjectServer', ...SERVER }, 'helper') } }],
  ];
  for (const [what, containers] of cases) {
    const { rt, read } = runtime(containers);
    const logs = containerLogSource(rt, async () => INSTALLATION);
    t.equal(await logs.tail(SERVER, 10), null, `${what}: tail finds no container`);
    let opened = false;
    t.equal(await logs.follow(SERVER, { tail: 1, signal: new AbortController().signal, opened: () => (opened = true) }, () => undefined), false, `${what}: follow finds none`);
    t.notOk(opened);
    t.same(read, [], `${what}: its log was never read`);
  }
  // a stranger in slot a does not hide the server's own container in slot b
  const { rt } = runtime({ [base]: { uid: '22222222-2222-4222-8222-222222222222' }, [`${base}_b`]: {} });
  t.equal(await containerLogSource(rt, async () => INSTALLATION).tail(SERVER, 10), `log of id-${base}_b\n`);
});
