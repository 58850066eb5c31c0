// Running a role's deploy hooks, with real tiny processes: how each ending reads, the
// deploy's context in the environment, no shell unless asked, the output's tail kept.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { HookFailedError, OutputTail, ProcessHooks, runHook } from '../../agent/deploy/hooks.js';
import { HookCommand } from '../../shared/contract/role-config.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '../fixtures/poll.js';

const never = new AbortController().signal;
const hook = (command: string[], options: { timeoutMs?: number; shell?: boolean } = {}) => HookCommand.parse({ command, ...options });
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

/** Gone, or a zombie nobody reaped yet: either way no longer running. */
function isGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

async function failure(promise: Promise<unknown>): Promise<HookFailedError> {
  const error = await promise.then(() => undefined, (thrown: unknown) => thrown);
  expect(error).toBeInstanceOf(HookFailedError);
  return error as HookFailedError;
}

describe('hook runner', () => {
  it('passes a hook that exits 0', async () => {
    await expect(runHook('after-up', hook(['/bin/true']), env, never)).resolves.toEqual({ output: '' });
  });

  it('fails a hook that exits non-zero, naming it and its exit code', async () => {
    const error = await failure(runHook('after-register', hook(['/bin/false']), env, never));
    expect(error.message).toBe('hook after-register failed (exit 1)');
  });

  it('puts the tail of its output, stdout and stderr, in the reason', async () => {
    const script = 'for i in $(seq 1 50); do echo "line $i"; done; echo "smoke test: expected v3, got v1" >&2; exit 3';
    const error = await failure(runHook('after-register', hook(['/bin/sh', '-c', script]), env, never));
    expect(error.message).toMatch(/^hook after-register failed \(exit 3\): line 32 \| line 33 \| /);
    expect(error.message).toMatch(/line 50 \| smoke test: expected v3, got v1$/);
    expect(error.output.split('\n')).toHaveLength(20);
  });

  it('stops a hook at its timeout and says so, with what it printed', async () => {
    const error = await failure(runHook('before-drain', hook(['/bin/sh', '-c', 'echo warming up; exec sleep 30'], { timeoutMs: 300 }), env, never));
    expect(error.message).toBe('hook before-drain timed out after 0.3 s: warming up');
  });

  it('kills a hook that ignores SIGTERM, and what it started, after the grace', async () => {
    const pidFile = join(mkdtempSync(join(tmpdir(), 'gv-hook-')), 'child.pid');
    const script = `trap '' TERM; sleep 30 & echo $! > ${pidFile}; wait; sleep 30`;
    const error = await failure(runHook('after-up', hook(['/bin/sh', '-c', script], { timeoutMs: 200 }), env, never));
    expect(error.message).toBe('hook after-up timed out after 0.2 s');
    const child = Number(readFileSync(pidFile, 'utf8'));
    await until('the child the hook started to be gone', () => (isGone(child) ? true : undefined), { timeoutMs: 5_000 });
  }, 20_000);

  it('stops a hook when the deploy is interrupted, with the interruption as the error', async () => {
    const controller = new AbortController();
    const running = runHook('after-up', hook(['/bin/sleep', '30']), env, controller.signal);
    controller.abort(new Error('agent stopping'));
    await expect(running).rejects.toThrow('agent stopping');
  });

  it('says so when the program cannot start', async () => {
    const error = await failure(runHook('after-up', hook(['/nonexistent/smoke-test']), env, never));
    expect(error.message).toMatch(/^hook after-up could not start: .*ENOENT/);
  });

  it('runs no shell unless asked: shell syntax reaches the program as plain arguments', async () => {
    const plain = await runHook('after-up', hook(['/bin/echo', '$HOME', '&&', 'false']), env, never);
    expect(plain.output).toBe('$HOME && false');
    const shelled = await failure(runHook('after-up', hook(['echo "$GRAPEVINE_TAG" && false'], { shell: true }), { ...env, GRAPEVINE_TAG: 'v7' }, never));
    expect(shelled.message).toBe('hook after-up failed (exit 1): v7');
  });

  it("gives the hook the deploy's context and only PATH, HOME, LANG, LC_ALL and TZ of the agent's environment", async () => {
    const seen: string[] = [];
    const hooks = new ProcessHooks(
      { web: { hooks: { afterRegister: hook(['/usr/bin/env']) } } },
      { imageDigest: async () => 'registry:5000/web@sha256:abc' },
      { ...env, HOME: '/root', GRAPEVINE_TOKEN: 'secret-token', GRAPEVINE_SERF_RPC_AUTH: 'secret-auth' },
    );
    const capture = pino({ level: 'info' }, { write: (line: string) => void seen.push(line) });
    const context = {
      deploy: { id: 'd-abc123', role: 'web', env: 'production', tag: 'v2', image: 'registry:5000/web:v2', rollbackOf: 'v3' },
      host: 'h1',
      lb: { backend: 'web', address: '10.0.0.11:8080' },
    };
    expect(hooks.has('web', 'after-register')).toBe(true);
    expect(hooks.has('web', 'before-drain')).toBe(false);
    await hooks.run('after-register', context, never, capture);
    const output = (JSON.parse(seen[0]!) as { output: string }).output.split('\n').sort();
    expect(output).toEqual([
      'GRAPEVINE_DEPLOY_ID=d-abc123', 'GRAPEVINE_ENV=production', 'GRAPEVINE_HOOK=after-register', 'GRAPEVINE_HOST=h1',
      'GRAPEVINE_IMAGE=registry:5000/web:v2', 'GRAPEVINE_IMAGE_DIGEST=registry:5000/web@sha256:abc',
      'GRAPEVINE_LB_ADDRESS=10.0.0.11:8080', 'GRAPEVINE_LB_BACKEND=web', 'GRAPEVINE_ROLE=web', 'GRAPEVINE_ROLLBACK_OF=v3',
      'GRAPEVINE_TAG=v2', 'HOME=/root', `PATH=${env.PATH}`,
    ]);
  });

  it('tells a hook of a pinned release its own reference as the digest, even before the pull (before-drain)', async () => {
    const seen: string[] = [];
    const pinned = `registry:5000/web@sha256:${'c'.repeat(64)}`;
    const hooks = new ProcessHooks(
      { web: { hooks: { beforeDrain: hook(['/bin/sh', '-c', 'echo "$GRAPEVINE_IMAGE $GRAPEVINE_IMAGE_DIGEST"']) } } },
      { imageDigest: async () => null },
      env,
    );
    const capture = pino({ level: 'info' }, { write: (line: string) => void seen.push(line) });
    const deploy = { id: 'd-abc123', role: 'web', env: 'production', tag: 'v2', image: pinned };
    await hooks.run('before-drain', { deploy, host: 'h1', lb: { backend: 'web', address: '10.0.0.11:8080' } }, never, capture);
    expect((JSON.parse(seen[0]!) as { output: string }).output).toBe(`${pinned} ${pinned}`);
  });

  it('tells a hook the image reference when the engine cannot give its digest', async () => {
    const seen: string[] = [];
    const hooks = new ProcessHooks(
      { web: { hooks: { afterUp: hook(['/bin/sh', '-c', 'echo "$GRAPEVINE_IMAGE_DIGEST"']) } } },
      { imageDigest: async () => { throw new Error('engine gone'); } },
      env,
    );
    const capture = pino({ level: 'info' }, { write: (line: string) => void seen.push(line) });
    const deploy = { id: 'd-abc123', role: 'web', env: 'production', tag: 'v2', image: 'registry:5000/web:v2' };
    await hooks.run('after-up', { deploy, host: 'h1', lb: { backend: 'web', address: '10.0.0.11:8080' } }, never, capture);
    expect(seen.map((line) => JSON.parse(line) as { msg: string; output?: string }).find((l) => l.msg === 'hook after-up passed')?.output).toBe('registry:5000/web:v2');
  });

  it('keeps at most 20 lines and 1500 characters of output', () => {
    const tail = new OutputTail();
    tail.add('x'.repeat(5_000));
    tail.add('\nend\n');
    const text = tail.text();
    expect(text.length).toBeLessThanOrEqual(1_500);
    expect(text.startsWith('...')).toBe(true);
    expect(text.endsWith('x\nend')).toBe(true);
  });
});
