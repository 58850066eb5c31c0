// A deploy created once per idempotency key, whichever coordinator a call reaches and however
// often the client sends it (it tries the next coordinator when one dies under a request): a
// repeat gets the deploy the first made. A repeat arriving while the first still runs waits for
// it (bounded); a first that died before it finished lets the key lapse, and a repeat then
// creates. The window left: a coordinator that dies after firing the deploy but before
// recording its id (one Redis SET) lets a repeat create a second deploy.
import { ConflictError, NotFoundError, ValidationError } from '../shared/contract/errors.js';
import type { Deploy } from '../shared/contract/schemas.js';
import { pollUntil } from '../shared/contract/waiting.js';
import type { RequestKeys } from '../shared/ports/request-keys.js';

/** Longer than a create takes and than a client waits for one (10 s): a repeat never overtakes a live first. */
const PENDING_MS = 15_000;
/** A client retries within seconds; a day covers any retry loop. */
const KEEP_MS = 24 * 60 * 60_000;
const KEY = /^[A-Za-z0-9_-]{8,100}$/;

export class CreateOnce {
  constructor(
    private readonly keys: RequestKeys,
    private readonly read: (id: string) => Promise<Deploy | undefined>,
  ) {}

  /** Runs `create` unless a call with `key` did already; no key: runs it. */
  async run(key: string | undefined, create: () => Promise<Deploy>): Promise<Deploy> {
    if (key === undefined) return create();
    if (!KEY.test(key)) throw new ValidationError('header idempotency-key: must be 8-100 letters, digits, - or _');
    const claim = await pollUntil('the first call with this idempotency key to finish', async () => {
      const answer = await this.keys.claim(key, PENDING_MS);
      return answer.kind === 'pending' ? undefined : answer;
    }, { timeoutMs: PENDING_MS, intervalMs: 100, tolerate: () => false }).catch((error: unknown) => {
      throw new ConflictError('request_in_progress', `a call with this idempotency key is still being handled; ask again later (${String(error)})`);
    });
    if (claim.kind === 'created') {
      const deploy = await this.read(claim.id);
      if (!deploy) throw new NotFoundError(`deploy ${claim.id}, created by an earlier call with this idempotency key, is gone`);
      return deploy;
    }
    let deploy: Deploy;
    try {
      deploy = await create();
    } catch (error) {
      await this.keys.release(key).catch(() => undefined);
      throw error;
    }
    await this.keys.record(key, deploy.id, KEEP_MS);
    return deploy;
  }
}
