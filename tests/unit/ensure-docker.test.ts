// scripts/ensure-docker.sh, run in situations made of stub executables: PATH
// holds only a directory of stubs (docker, dockerd, id, apt-get, busybox,
// caddy) and one of links to the few real tools the script needs, so the
// host's own Docker and packages are never seen, used or changed.
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'ensure-docker.sh');

/** The real tools the script and the stubs use; everything else comes from the stubs. */
const TOOLS = ['sh', 'cat', 'tail', 'sleep', 'date', 'rm', 'mkdir', 'setsid', 'nohup', 'timeout', 'touch', 'cp'];

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const shPath = which('sh') ?? '/bin/sh';
// The script adds apparmor to docker.io on a kernel with AppArmor enabled (no
// apparmor_parser is on the stub PATH), so what it installs depends on the host.
const apparmorEnabled = (() => {
  try {
    return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    return false;
  }
})();

interface Machine {
  dir: string;
  bin: string;
  /** What `apt-get` was called with, one call a line (with DEBIAN_FRONTEND first). */
  aptCalls(): string[];
  /** Writes an executable shell script named `name` into the stub PATH directory. */
  stub(name: string, body: string): void;
  run(): { code: number | null; stdout: string; stderr: string; lines: string[] };
}

/**
 * A machine made of stubs. `engine-up` is a file: the stub `docker` answers
 * while it exists; the stub `dockerd` (when installed or stubbed) creates it.
 */
function machine(t: Test, opts: { uid: number; have: string[] }): Machine {
  const dir = mkdtempSync(join(tmpdir(), 'ensure-docker-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  const tools = join(dir, 'tools');
  const pkgs = join(dir, 'pkgs'); // what apt-get "installs": stubs copied into bin
  for (const d of [bin, tools, pkgs]) mkdirSync(d);
  for (const name of TOOLS) {
    const real = which(name);
    if (real) symlinkSync(real, join(tools, name));
  }
  const up = join(dir, 'engine-up');
  const write = (file: string, body: string): void => {
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
  };
  const scripts: Record<string, string> = {
    docker: [
      `if [ -e '${up}' ]; then echo 20.10.24; exit 0; fi`,
      `echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2`,
      'exit 1',
    ].join('\n'),
    dockerd: [`echo "dockerd $*" >> '${dir}/dockerd-calls'`, `cat /proc/$$/stat > '${dir}/dockerd-stat'`, `touch '${up}'`].join('\n'),
    busybox: 'exit 0',
    caddy: 'exit 0',
  };
  for (const [name, body] of Object.entries(scripts)) write(join(pkgs, name), body);
  for (const name of opts.have) cp(join(pkgs, name), join(bin, name));
  write(join(bin, 'id'), `echo ${opts.uid}`);
  write(
    join(bin, 'apt-get'),
    [
      `echo "DEBIAN_FRONTEND=\${DEBIAN_FRONTEND:-} $*" >> '${dir}/apt-calls'`,
      'for arg; do',
      '  case $arg in',
      `    docker.io) cp '${pkgs}/docker' '${pkgs}/dockerd' '${bin}/' ;;`,
      `    busybox-static) cp '${pkgs}/busybox' '${bin}/' ;;`,
      `    caddy) cp '${pkgs}/caddy' '${bin}/' ;;`,
      '  esac',
      'done',
    ].join('\n'),
  );
  return {
    dir,
    bin,
    aptCalls: () => (existsSync(join(dir, 'apt-calls')) ? readFileSync(join(dir, 'apt-calls'), 'utf8').trim().split('\n') : []),
    stub: (name, body) => write(join(bin, name), body),
    run: () => {
      const r = spawnSync(shPath, [script], {
        env: { PATH: `${bin}${delimiter}${tools}`, TMPDIR: dir, DEPLOYER_DOCKER_RUN_DIR: dir },
        encoding: 'utf8',
        timeout: 20_000,
      });
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines };
    },
  };
}

function cp(from: string, to: string): void {
  writeFileSync(to, readFileSync(from));
  chmodSync(to, 0o755);
}

t.test('not root, no engine: one line that says so, exit 1, nothing installed or started', async (t) => {
  const m = machine(t, { uid: 1000, have: ['docker', 'busybox', 'caddy'] });
  const r = m.run();
  t.equal(r.code, 1);
  t.equal(r.lines.length, 1, 'one line on stderr', { stderr: r.stderr });
  t.match(r.lines[0], /Docker is not running and I am not root/);
  t.equal(r.stdout, '');
  t.same(m.aptCalls(), []);
  t.notOk(existsSync(join(m.dir, 'dockerd-calls')));
});

t.test('not root, no docker at all: one line, exit 1', async (t) => {
  const m = machine(t, { uid: 1000, have: [] });
  const r = m.run();
  t.equal(r.code, 1);
  t.equal(r.lines.length, 1, 'one line on stderr', { stderr: r.stderr });
  t.match(r.lines[0], /Docker is not installed/);
  t.same(m.aptCalls(), []);
});

t.test('an engine that answers is used as it is, root or not, with no apt-get', async (t) => {
  for (const uid of [1000, 0]) {
    const m = machine(t, { uid, have: ['docker', 'busybox', 'caddy'] });
    writeFileSync(join(m.dir, 'engine-up'), '');
    const r = m.run();
    t.equal(r.code, 0, `uid ${uid}`);
    t.equal(r.stderr, '', `uid ${uid}: silent`);
    t.same(m.aptCalls(), [], `uid ${uid}: no apt-get`);
    t.notOk(existsSync(join(m.dir, 'dockerd-calls')), `uid ${uid}: no dockerd`);
  }
});

t.test('an engine answers but busybox or caddy is missing', async (t) => {
  t.test('not root, no busybox: one line naming the package, exit 1', async (t) => {
    const m = machine(t, { uid: 1000, have: ['docker', 'caddy'] });
    writeFileSync(join(m.dir, 'engine-up'), '');
    const r = m.run();
    t.equal(r.code, 1);
    t.equal(r.lines.length, 1, 'one line on stderr', { stderr: r.stderr });
    t.match(r.lines[0], /busybox-static/);
    t.same(m.aptCalls(), []);
  });
  t.test('not root, no caddy: a warning, exit 0', async (t) => {
    const m = machine(t, { uid: 1000, have: ['docker', 'busybox'] });
    writeFileSync(join(m.dir, 'engine-up'), '');
    const r = m.run();
    t.equal(r.code, 0);
    t.equal(r.lines.length, 1, 'one line on stderr', { stderr: r.stderr });
    t.match(r.lines[0], /warning: caddy is missing/);
  });
  t.test('root: installs only what is missing; docker.io is not touched', async (t) => {
    const m = machine(t, { uid: 0, have: ['docker'] });
    writeFileSync(join(m.dir, 'engine-up'), '');
    const r = m.run();
    t.equal(r.code, 0, 'exit 0', { stderr: r.stderr });
    t.same(m.aptCalls(), [
      'DEBIAN_FRONTEND= update -qq',
      'DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=120 busybox-static caddy',
    ]);
  });
});

t.test('root with everything missing: installs, starts dockerd, waits for it', async (t) => {
  const m = machine(t, { uid: 0, have: [] });
  // Stale pid files naming a live process that is not dockerd or containerd
  // (this test) would make dockerd refuse to start, or take this process for
  // its containerd: the script removes them.
  writeFileSync(join(m.dir, 'docker.pid'), `${process.pid}\n`);
  mkdirSync(join(m.dir, 'docker', 'containerd'), { recursive: true });
  writeFileSync(join(m.dir, 'docker', 'containerd', 'containerd.pid'), `${process.pid}\n`);
  const r = m.run();
  t.equal(r.code, 0, 'exit 0', { stderr: r.stderr });
  t.equal(r.stdout, '');
  t.same(m.aptCalls(), [
    'DEBIAN_FRONTEND= update -qq',
    'DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=120 ' +
      `docker.io busybox-static caddy${apparmorEnabled ? ' apparmor' : ''}`,
  ]);
  t.equal(readFileSync(join(m.dir, 'dockerd-calls'), 'utf8'), 'dockerd \n', 'dockerd started once');
  // /proc/<pid>/stat: "pid (comm) state ppid pgrp session …"
  const stat = readFileSync(join(m.dir, 'dockerd-stat'), 'utf8');
  const [pid] = stat.split(' ');
  const [, , pgrp, session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  t.same([pgrp, session], [pid, pid], 'dockerd leads its own session and process group, apart from the caller');
  t.notOk(existsSync(join(m.dir, 'docker.pid')), 'the stale docker.pid is gone');
  t.notOk(existsSync(join(m.dir, 'docker', 'containerd', 'containerd.pid')), 'the stale containerd.pid is gone');
  t.match(r.stderr, `started dockerd (log: ${join(m.dir, 'deployer-dockerd.log')})`);

  const again = m.run();
  t.equal(again.code, 0, 'a second run');
  t.equal(again.stderr, '', 'is silent');
  t.equal(m.aptCalls().length, 2, 'and runs no apt-get');
});

t.test('root, a dockerd already starting up: waits for it rather than starting another', async (t) => {
  const m = machine(t, { uid: 0, have: ['docker', 'dockerd', 'busybox', 'caddy'] });
  const other = join(m.dir, 'other');
  mkdirSync(other);
  writeFileSync(join(other, 'dockerd'), `#!/bin/sh\nsleep 0.5\ntouch '${join(m.dir, 'engine-up')}'\nsleep 30\n`);
  chmodSync(join(other, 'dockerd'), 0o755);
  const child = spawn(join(other, 'dockerd'), [], { stdio: 'ignore' });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  writeFileSync(join(m.dir, 'docker.pid'), `${child.pid}\n`);
  const r = m.run();
  t.equal(r.code, 0, 'exit 0', { stderr: r.stderr });
  t.match(r.stderr, `dockerd (pid ${child.pid}) is running but not answering yet`);
  t.notOk(existsSync(join(m.dir, 'dockerd-calls')), 'no second dockerd');
});

t.test('root, dockerd exits at once: its log and exit 1, without waiting out the 60 s', async (t) => {
  const m = machine(t, { uid: 0, have: ['docker', 'busybox', 'caddy'] });
  m.stub('dockerd', `echo 'failed to start daemon: Devices cgroup is not mounted' >&2\nexit 1`);
  const started = Date.now();
  const r = m.run();
  t.equal(r.code, 1);
  t.match(r.stderr, /Devices cgroup is not mounted/);
  t.match(r.lines[r.lines.length - 1], /dockerd exited without answering/);
  t.ok(Date.now() - started < 10_000, 'fast');
});
