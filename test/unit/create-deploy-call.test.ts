// What `grapevine deploy` makes of the coordinator's answer without zod: a started deploy is
// taken when its id, role, env and tag keep their rules, and anything else is refused naming
// each field that does not; an error answer reads as the typed error its status says, with
// the coordinator's own message when the body is `{error: {code, message}}`.
import { describe, expect, it } from 'vitest';
import { ConflictError, GrapevineError, UnreachableError, ValidationError } from '../../shared/contract/errors.js';
import { errorFor } from '../../shared/coordinator-http/coordinator-transport.js';
import { startedDeployProblem } from '../../shared/coordinator-http/create-deploy-call.js';

describe('a started deploy, checked by hand', () => {
  it('takes one whose printed fields keep their rules, whatever else it carries', () => {
    expect(startedDeployProblem({ id: 'd-abc123', role: 'web', env: 'production', tag: 'v1.2', targets: ['h1'] })).toBeUndefined();
  });

  it('names each field that is missing or breaks its rule', () => {
    expect(startedDeployProblem({ id: 'x-1', role: 'web', env: 7, tag: 'v1' })).toBe(
      'id must look like d-<letters and digits>; env expected a string',
    );
    expect(startedDeployProblem({ role: 'Web', env: 'production', tag: '.v1', id: 'd-abc123' })).toBe(
      'role must be 1-32 characters of a-z, 0-9 and -, starting with a letter; tag must be a Docker tag: letters, digits, _ . - (at most 128)',
    );
    for (const notAnObject of [null, undefined, 'deploy', [], 3]) expect(startedDeployProblem(notAnObject)).toBe('(root) expected an object');
  });
});

describe('an error answer', () => {
  it("reads as its status's error with the coordinator's message", () => {
    const body = (code: string, message: string) => ({ error: { code, message } });
    const bad = errorFor(400, body('invalid_input', 'tag: must be a Docker tag'), '', 'POST /v1/deploys');
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad.message).toBe('tag: must be a Docker tag');
    const conflict = errorFor(409, body('frozen', 'web/production is frozen'), '', 'POST /v1/deploys');
    expect(conflict).toBeInstanceOf(ConflictError);
    expect(conflict.code).toBe('frozen');
    expect(errorFor(503, body('unreachable', 'serf did not answer'), '', 'POST /v1/deploys')).toBeInstanceOf(UnreachableError);
  });

  it('says the status and the start of the body when the body is not an error object', () => {
    for (const json of [undefined, null, [], { error: 'boom' }, { error: { code: 1, message: 'x' } }]) {
      const error = errorFor(500, json, '<html>proxy error</html>', 'POST http://c:7700/v1/deploys');
      expect(error).toBeInstanceOf(GrapevineError);
      expect(error.message).toBe('POST http://c:7700/v1/deploys answered 500: <html>proxy error</html>');
    }
    expect(errorFor(502, undefined, '', 'GET http://c:7700/v1/deploys').message).toBe('GET http://c:7700/v1/deploys answered 502: (empty body)');
  });
});
