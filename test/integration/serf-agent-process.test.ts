// The Serf agent supervisor against a real `serf agent`: a start that fails leaves no serf behind.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SerfAgentProcess } from '../../shared/serf/serf-agent-process.js';
import { UnreachableError } from '../../shared/contract/errors.js';
import { pause } from '../../shared/contract/waiting.js';
import { freePort } from '../fixtures/server-process.js';

/** Serf processes this test process started, found by the config file on their command line, still alive. */
function serfChildren(configFile: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const alive = fields[0] !== 'Z';
        return alive && Number(fields[1]) === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(configFile);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('serf agent process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gvtest-serfproc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fails its start when serf exits, and does not start a serf again afterwards', async () => {
    const ip = '127.0.0.41';
    // Serf cannot bind its gossip port when something else holds it, and exits.
    const taken = createServer();
    const port = await freePort(ip);
    await new Promise<void>((resolve) => taken.listen(port, ip, resolve));
    const dataDir = join(dir, 'n1');
    const serf = new SerfAgentProcess({
      nodeName: 'n1',
      serf: { binary: 'serf', bind: `${ip}:${port}`, rpc: `${ip}:${await freePort(ip)}`, join: [], rpcAuth: 'serf-test-token-1234', dataDir },
      tags: {},
      logger: pino({ level: 'silent' }),
    });
    try {
      const failure = await serf.start().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(UnreachableError);
      expect((failure as Error).message).toMatch(/did not start: serf agent exited/);
      // What Serf said is in the error: why it could not start.
      expect((failure as Error).message).toMatch(/it said: .*address already in use/);
      // The port is free again, so a serf started now would stay up. A restart would come 1 s after the exit: past that, still no serf.
      taken.close();
      await pause(1_500);
      expect(serfChildren(join(dataDir, 'serf.json'))).toEqual([]);
    } finally {
      await serf.stop();
      taken.close();
    }
  });
});
