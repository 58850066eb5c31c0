// How a flag changes, pure: a set's settings laid over the flag (or a new flag's defaults),
// and the kill switch. Each returns the flag to store or throws a ValidationError naming the
// field, so a refused change stores nothing.
import { ValidationError } from '../../shared/contract/errors.js';
import { DEFAULT_VARIANTS, type Flag, type FlagSettings, type KillBody } from '../../shared/contract/flags.js';

export interface ChangeBy {
  env: string;
  name: string;
  /** The credential's actor. */
  by: string;
  at: number;
}

/**
 * The flag after `settings`. Fields left out keep their value; a new flag starts enabled with
 * variants on=true/off=false and no targeting (on for everyone). `percent: null` ends the
 * rollout. The kill switch stays on unless the settings say `enabled: true`: adjusting a
 * killed flag's rollout must not bring it back by accident.
 */
export function applySettings(current: Flag | undefined, settings: FlagSettings, change: ChangeBy): Flag {
  const variants = settings.variants ?? current?.variants ?? { ...DEFAULT_VARIANTS };
  const onVariant = settings.onVariant ?? current?.onVariant ?? 'on';
  const offVariant = settings.offVariant ?? current?.offVariant ?? 'off';
  const names = Object.keys(variants);
  for (const [field, variant] of [['onVariant', onVariant], ['offVariant', offVariant]] as const) {
    if (!names.includes(variant)) {
      const how = settings[field] === undefined ? ` (kept from before: give --serve-${field === 'onVariant' ? 'on' : 'off'} with new variants)` : '';
      throw new ValidationError(`invalid body: ${field} must name one of the variants (${names.join(', ')}); got ${variant}${how}`);
    }
  }
  const percent = settings.percent === null ? undefined : (settings.percent ?? current?.percent);
  const killed = settings.enabled === true ? undefined : current?.killed;
  const description = settings.description ?? current?.description;
  return {
    name: change.name,
    env: change.env,
    enabled: settings.enabled ?? current?.enabled ?? true,
    variants,
    onVariant,
    offVariant,
    users: dedupe(settings.users ?? current?.users ?? []),
    segments: dedupe(settings.segments ?? current?.segments ?? []),
    ...(percent === undefined ? {} : { percent }),
    ...(killed === undefined ? {} : { killed }),
    ...(description === undefined ? {} : { description }),
    version: (current?.version ?? 0) + 1,
    updatedBy: change.by,
    updatedAt: change.at,
  };
}

/** The flag with its kill switch on; undefined when it was on already (the first kill's mark stays). */
export function killFlag(current: Flag, body: KillBody, change: ChangeBy): Flag | undefined {
  if (current.killed !== undefined) return undefined;
  return {
    ...current,
    killed: { by: change.by, at: change.at, ...(body.reason === undefined ? {} : { reason: body.reason }) },
    version: current.version + 1,
    updatedBy: change.by,
    updatedAt: change.at,
  };
}

function dedupe(items: readonly string[]): string[] {
  return [...new Set(items)];
}
