// A throwaway Docker engine of a test's own, beside the machine's, so a test may stop and start
// it while the rest of the suite keeps /var/run/docker.sock. Everything it has lives under one
// short temp dir (unix socket paths are limited to 108 bytes): its socket, data root, exec
// root (where it starts its own containerd) and pid file. It makes no iptables rules (the
// host's engine owns those) and takes its networks from 10.213.0.0/16. Its default bridge is
// one made here for it (`dk-<suffix>`, 10.212.<n>.1/24): not `--bridge=none`, because a
// dockerd without a default bridge deletes the host's `docker0` when it starts (libnetwork's
// removeDefaultBridgeInterface), which breaks the host engine's default network. For the same
// reason the address pool is given only to its first start: a dockerd that finds its old
// default bridge network in its store and has address pools configured deletes `docker0` too.
// Its networks are kept in its data root, so later starts need no pool. (Should `docker0`
// vanish all the same, start() puts it back as it was and fails.) The host
// engine's FORWARD policy is DROP and bridged traffic passes iptables
// (bridge-nf-call-iptables), so one rule in DOCKER-USER (the chain Docker leaves to users)
// lets this engine's containers reach each other within its pool. Its
// containers run under their own cgroup parent, so a process of it that outlived it can be
// found even when its command line does not name the temp dir (a container's).
//
// The teardown registered by startDockerd stops the engine (SIGTERM, then SIGKILL), kills any
// process of it that survived, unmounts what it left mounted under the dir, deletes the bridge
// interfaces it made (its default bridge, and those of networks it still had: a dockerd leaves
// them behind when it stops), and removes the dir — also when the test failed half-way.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import { DockerRuntime } from '../../docker/index.js';
import { sleep } from './installation.js';

const run = promisify(execFile);
export const OWN_POOL = '10.213.0.0/16';

export interface OwnDockerd {
  dir: string;
  socket: string;
  /** DOCKER_HOST for processes that should use it. */
  host: string;
  /** A client of it. */
  docker: DockerRuntime;
  /** Starts the engine (again: the same data root) and resolves once it answers. */
  start(ms?: number): Promise<void>;
  /** SIGTERM, and resolves with the exit code once it exited (SIGKILL after `ms`). */
  stop(ms?: number): Promise<number | null>;
  running(): boolean;
  /** Pids of processes of this engine still alive: dockerd, its containerd and shims, docker-proxy, containers. */
  leftovers(): Promise<{ pid: number; what: string }[]>;
  /** The engine's log so far (for failure messages). */
  log(): Promise<string>;
}

export async function startDockerd(t: Test, prefix = 'dko-'): Promise<OwnDockerd> {
  const dir = await mkdtemp(join('/tmp', prefix));
  const socket = join(dir, 'd.sock');
  const suffix = dir.slice(dir.lastIndexOf('/') + 1 + prefix.length);
  const cgroupParent = `deployer-test-${suffix}`;
  const bridge = `dk-${suffix}`.slice(0, 15); // IFNAMSIZ
  const bridgeNet = `10.212.${Math.floor(Math.random() * 250) + 1}`;
  await run('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
  t.teardown(() => run('ip', ['link', 'del', bridge]).catch(() => undefined)); // runs after the engine's teardown below
  await run('ip', ['addr', 'add', `${bridgeNet}.1/24`, 'dev', bridge]);
  await run('ip', ['link', 'set', bridge, 'up']);
  // containers of its networks reach each other (a proxy its upstreams); removed at teardown
  const accept = ['DOCKER-USER', '-s', OWN_POOL, '-d', OWN_POOL, '-m', 'comment', '--comment', cgroupParent, '-j', 'ACCEPT'];
  await run('iptables', ['-I', ...accept]);
  t.teardown(() => run('iptables', ['-D', ...accept]).catch(() => undefined));
  const args = [
    `--host=unix://${socket}`,
    `--data-root=${join(dir, 'data')}`,
    `--exec-root=${join(dir, 'x')}`,
    `--pidfile=${join(dir, 'd.pid')}`,
    `--bridge=${bridge}`,
    '--iptables=false',
    '--ip-masq=false',
    `--cgroup-parent=/${cgroupParent}`,
    // its own containerd, started under the exec root; a namespace of its own all the same
    '--containerd-namespace=deployer-test',
    '--containerd-plugins-namespace=deployer-test-plugins',
    '--log-level=warn',
  ];
  const logFile = join(dir, 'dockerd.log');
  let proc: ChildProcess | undefined;
  let starts = 0;
  let exited: Promise<number | null> = Promise.resolve(null);
  const docker = new DockerRuntime({ socketPath: socket });

  const own: OwnDockerd = {
    dir,
    socket,
    host: `unix://${socket}`,
    docker,
    running: () => proc !== undefined && proc.exitCode === null && proc.signalCode === null,
    async start(ms = 30_000) {
      if (own.running()) throw new Error('dockerd is running already');
      const hostBridge = await linkAddresses('docker0');
      const fd = openSync(logFile, 'a');
      // the pool only for a fresh data root (see the top of this file)
      proc = spawn('dockerd', starts++ === 0 ? [...args, `--default-address-pool=base=${OWN_POOL},size=24`] : args, { stdio: ['ignore', fd, fd], detached: false });
      closeSync(fd);
      const p = proc;
      exited = new Promise((resolve) => p.on('exit', (code) => resolve(code)));
      const end = Date.now() + ms;
      for (;;) {
        if (!own.running()) throw new Error(`dockerd exited while starting:\n${await own.log()}`);
        try {
          await docker.ping();
          if (hostBridge && !(await linkAddresses('docker0'))) {
            await run('ip', ['link', 'add', 'name', 'docker0', 'type', 'bridge']);
            for (const a of hostBridge) await run('ip', ['addr', 'add', a, 'dev', 'docker0']);
            await run('ip', ['link', 'set', 'docker0', 'up']);
            throw new Error("the test's dockerd removed the host's docker0 (put back as it was)");
          }
          return;
        } catch (err) {
          if (/docker0/.test((err as Error).message)) throw err;
          // not yet
        }
        if (Date.now() > end) throw new Error(`dockerd did not answer within ${ms} ms:\n${await own.log()}`);
        await sleep(100);
      }
    },
    async stop(ms = 30_000) {
      if (!own.running()) return exited;
      proc!.kill('SIGTERM');
      const timer = setTimeout(() => proc?.kill('SIGKILL'), ms);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async leftovers() {
      const found: { pid: number; what: string }[] = [];
      for (const entry of await readdir('/proc')) {
        const pid = Number(entry);
        if (!Number.isInteger(pid) || pid === process.pid) continue;
        try {
          const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ').trim();
          const cgroup = await readFile(`/proc/${pid}/cgroup`, 'utf8');
          if (cmd.includes(dir) || cgroup.includes(cgroupParent) || /docker-proxy .*-container-ip 10\.213\./.test(cmd)) found.push({ pid, what: cmd.slice(0, 200) });
        } catch {
          // gone meanwhile
        }
      }
      return found;
    },
    log: () => readFile(logFile, 'utf8').catch(() => ''),
  };

  t.teardown(async () => {
    if (own.running()) await own.stop(20_000);
    for (const p of await own.leftovers()) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    // after a SIGKILL: overlay, shm and netns mounts under the dir, deepest first
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && m.startsWith(dir + '/'))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
    // bridges of its networks: br-<network id>, addressed from its pool
    const links = JSON.parse((await run('ip', ['-j', 'addr', 'show', 'type', 'bridge'])).stdout) as { ifname: string; addr_info?: { local: string }[] }[];
    for (const l of links)
      if (l.ifname.startsWith('br-') && l.addr_info?.some((a) => a.local.startsWith(`${OWN_POOL.split('.').slice(0, 2).join('.')}.`)))
        await run('ip', ['link', 'del', l.ifname]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    // its cgroups (cgroup v1: one dir per controller), empty once its processes are gone
    for (const ctl of await readdir('/sys/fs/cgroup').catch(() => [] as string[]))
      await run('rmdir', [`/sys/fs/cgroup/${ctl}/${cgroupParent}`]).catch(() => undefined);
  });
  await own.start();
  return own;
}

/** The IPv4 addresses (`a.b.c.d/n`) of a link, or undefined when there is no such link. */
async function linkAddresses(name: string): Promise<string[] | undefined> {
  try {
    const [link] = JSON.parse((await run('ip', ['-j', '-4', 'addr', 'show', 'dev', name])).stdout) as { addr_info?: { local: string; prefixlen: number }[] }[];
    return (link?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
  } catch {
    return undefined;
  }
}
