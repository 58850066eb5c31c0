// The coordinator's answers about strategies, parsed by the CLI and the agents alike.
import * as z from 'zod';
import { Colour } from './strategy.js';

/** `GET /v1/groups/:role/:env/colour`: which colour serves, and which was retired (stopped). */
export const GroupColourAnswer = z.object({
  role: z.string(),
  env: z.string(),
  live: Colour,
  retired: Colour.nullable(),
  retireAt: z.number().optional(),
});
export type GroupColourAnswer = z.infer<typeof GroupColourAnswer>;

/** `POST /v1/groups/:role/:env/switch`: the colour now live, the servers weighed and how long the load balancer took. */
export const SwitchAnswer = z.object({
  group: z.object({ role: z.string(), env: z.string() }),
  live: Colour,
  servers: z.number().int().nonnegative(),
  ms: z.number().nonnegative(),
});
export type SwitchAnswer = z.infer<typeof SwitchAnswer>;
