// The names of the deploy strategies, apart from their configs (strategy.ts): `grapevine
// deploy --strategy` checks the name without building every strategy's config schema.
import * as z from 'zod';
import { STRATEGIES } from './name-rules.js';

export { STRATEGIES };
export const StrategyKind = z.enum(STRATEGIES);
export type StrategyKind = z.infer<typeof StrategyKind>;
