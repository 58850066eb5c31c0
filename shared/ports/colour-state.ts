// Which colour of a blue/green group serves (README, "Blue/green"), kept by the coordinator:
// a deploy to the group replaces the idle colour (blue/green) or the live one (rolling, canary),
// `grapevine switch` moves traffic back, and the old colour is retired once kept long enough.
import type { Colour } from '../contract/strategy.js';
import type { DeployGroup } from './fleet-state.js';

export interface GroupColour {
  role: string;
  env: string;
  /** The colour the group's traffic goes to. */
  live: Colour;
  /** The other colour, once its containers were told to stop (it can no longer be switched back to). */
  retired: Colour | null;
  /** When the other colour is retired, unless traffic is switched back to it first. */
  retireAt?: number;
  /** The deploy (or `switch`) that made `live` live, and when. */
  switchedAt?: number;
  deployId?: string;
}

export interface ColourState {
  /** The group's colours; undefined while no blue/green deploy has run in it (its hosts replace blue). */
  get(group: DeployGroup): Promise<GroupColour | undefined>;
  set(colour: GroupColour): Promise<void>;
  /** Every group with colours: few, so read whole. */
  all(): Promise<GroupColour[]>;
}
