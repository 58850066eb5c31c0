import { describe, expect, it } from 'vitest';
import { decideDeployEvent } from '../../agent/deploy/deploy-event.js';

const host = { env: 'production', roles: ['web', 'api'] };
const never = () => false;
const payload = (fields: Record<string, unknown>) => JSON.stringify({ v: 1, role: 'web', env: 'production', id: 'd-abc123', ...fields });

describe('deploy event filtering', () => {
  it('runs a deploy for one of its roles in its environment', () => {
    expect(decideDeployEvent('deploy', payload({}), host, never)).toEqual({
      kind: 'run',
      payload: { v: 1, role: 'web', env: 'production', id: 'd-abc123' },
    });
  });

  it('accepts the newline Serf appends to the payload', () => {
    expect(decideDeployEvent('deploy', `${payload({ role: 'api' })}\n`, host, never).kind).toBe('run');
  });

  it('ignores other environments, other roles and other events', () => {
    expect(decideDeployEvent('deploy', payload({ env: 'staging' }), host, never)).toMatchObject({ kind: 'ignore', reason: 'for environment staging' });
    expect(decideDeployEvent('deploy', payload({ role: 'worker' }), host, never)).toMatchObject({ kind: 'ignore', reason: 'for role worker' });
    expect(decideDeployEvent('restart', payload({}), host, never).kind).toBe('ignore');
  });

  it('ignores a deploy id it already handled (Serf replays events)', () => {
    const decision = decideDeployEvent('deploy', payload({}), host, (id) => id === 'd-abc123');
    expect(decision).toMatchObject({ kind: 'ignore', reason: 'deploy d-abc123 already handled' });
  });

  it('rejects payloads that are not JSON or miss fields, naming the field', () => {
    expect(decideDeployEvent('deploy', 'web production', host, never)).toEqual({ kind: 'invalid', reason: 'payload is not JSON' });
    const missing = decideDeployEvent('deploy', JSON.stringify({ v: 1, role: 'web', env: 'production' }), host, never);
    expect(missing.kind).toBe('invalid');
    expect(missing.kind === 'invalid' && missing.reason).toMatch(/^payload: id /);
    const badRole = decideDeployEvent('deploy', payload({ role: 'Web; rm -rf /' }), host, never);
    expect(badRole.kind === 'invalid' && badRole.reason).toMatch(/^payload: role /);
    const future = decideDeployEvent('deploy', payload({ v: 2 }), host, never);
    expect(future.kind === 'invalid' && future.reason).toMatch(/^payload: v /);
  });

  it('never carries the tag: an unknown field such as a tag is dropped', () => {
    const decision = decideDeployEvent('deploy', payload({ tag: 'v9' }), host, never);
    expect(decision).toEqual({ kind: 'run', payload: { v: 1, role: 'web', env: 'production', id: 'd-abc123' } });
  });
});
