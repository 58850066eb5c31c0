// What the coordinator's Serf keyring API answers: keys only ever as fingerprints.
import * as z from 'zod';

export const SerfKeyList = z.object({
  /** Members the coordinator's Serf agent knew of, and how many answered. */
  members: z.number(),
  answered: z.number(),
  /** Every member answered, none with an error. */
  complete: z.boolean(),
  keys: z.array(z.object({ fingerprint: z.string(), members: z.number() })),
  messages: z.record(z.string(), z.string()),
});
export type SerfKeyList = z.infer<typeof SerfKeyList>;

export const SerfKeyRotation = z.object({
  /** Fingerprint of the new primary key. */
  key: z.string(),
  steps: z.array(z.object({ step: z.string(), key: z.string(), members: z.number(), answered: z.number() })),
  removed: z.array(z.string()),
});
export type SerfKeyRotation = z.infer<typeof SerfKeyRotation>;
