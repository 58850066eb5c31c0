// Whether a new deploy may start in a group: a frozen group takes none unless an operator
// forces it (a fix during the freeze). Rollbacks and promotions are deploys too, so the
// deploy starter checks every one; a catch-up is created anyway, and its host is held.
import { ConflictError, ForbiddenError } from '../shared/contract/errors.js';
import { describeFreeze } from '../shared/contract/freeze.js';
import type { Scope } from '../shared/ports/credentials.js';
import type { DeployGroup, FleetControl } from '../shared/ports/fleet-state.js';

/** Throws group_frozen (409) when the group is frozen and the deploy is not forced, forbidden (403) when a scope below operator forces it. */
export async function refuseIfFrozen(freezes: Pick<FleetControl, 'frozen'>, group: DeployGroup, force: boolean, scope: Scope | undefined): Promise<void> {
  const mark = await freezes.frozen(group);
  if (!mark) return;
  const where = `${group.role}/${group.env}`;
  if (!force) {
    throw new ConflictError('group_frozen', `${where} is frozen: ${describeFreeze(mark)}; unfreeze it, or an operator may force a deploy with --force`);
  }
  if (scope !== 'operator') {
    throw new ForbiddenError(`${where} is frozen (${describeFreeze(mark)}): forcing a deploy past a freeze needs the operator scope; this credential is ${scope ?? 'none'}`);
  }
}
