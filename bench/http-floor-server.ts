// The server `npm run bench:http-floor` measures (bench/http-floor.ts), in a process of its
// own: a hono app on @hono/node-server with one route, doing what its `start` message names.
// It answers `cpu` with its process.cpuUsage() and exits on `stop`.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import * as z from 'zod';

export const HANDLERS = ['empty', 'zod', 'zod + HSET'] as const;
export type Handler = (typeof HANDLERS)[number];

export type FloorCommand = { type: 'start'; handler: Handler; port: number; redisPort: number } | { type: 'cpu' } | { type: 'stop' };
export type FloorReply = { type: 'ready' } | { type: 'cpu'; usage: NodeJS.CpuUsage };

const Report = z.object({ host: z.string().min(1), state: z.enum(['deploying', 'succeeded']), steps: z.array(z.object({ step: z.string(), at: z.number() })) });

function start({ handler, port, redisPort }: { handler: Handler; port: number; redisPort: number }): void {
  const redis = handler === 'zod + HSET' ? new Redis({ port: redisPort, host: '127.0.0.1' }) : undefined;
  const app = new Hono();
  app.post('/v1/reports', async (c) => {
    if (handler === 'empty') return c.json({ status: 'in_progress' });
    const report = Report.parse(await c.req.json());
    await redis?.hset('floor:reports', report.host, JSON.stringify(report));
    return c.json({ status: 'in_progress' });
  });
  serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => reply({ type: 'ready' }));
}

function reply(message: FloorReply): void {
  process.send?.(message);
}

process.on('message', (command: FloorCommand) => {
  if (command.type === 'start') start(command);
  else if (command.type === 'cpu') reply({ type: 'cpu', usage: process.cpuUsage() });
  else process.exit(0);
});
// The bench is the only reason to live: when its channel closes, so does this process.
process.on('disconnect', () => process.exit(0));
