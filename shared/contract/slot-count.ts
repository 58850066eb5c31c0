/** A third of the group, rounded up, unless the coordinator's config says otherwise. */
export const DEFAULT_SLOTS = '1/3';

/**
 * How many hosts of a group may deploy at once: a whole number is taken as is, a
 * fraction "a/b" or "0.x" of the n matching hosts is rounded up, and there is always
 * at least one slot.
 */
export function slotCount(hosts: number, setting: number | string): number {
  if (typeof setting === 'number') return Math.max(1, setting);
  const [num, den] = setting.split('/');
  if (den !== undefined) {
    // Integer arithmetic: ceil(n * a / b) without floating-point surprises.
    const a = Number(num);
    const b = Number(den);
    return Math.max(1, Math.floor((hosts * a + b - 1) / b));
  }
  return Math.max(1, Math.ceil(hosts * Number(setting) - 1e-9));
}
