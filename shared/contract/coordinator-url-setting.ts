// A config's coordinator URL, as a schema: kept apart from coordinator-urls.ts so that the
// CLI's requests read their URL list without loading zod.
import * as z from 'zod';
import { coordinatorUrls } from './coordinator-urls.js';

/** One string (commas allowed) or a list; kept as given, checked with coordinatorUrls. */
export const CoordinatorUrlSetting = z.union([z.string(), z.array(z.string()).min(1)]).superRefine((value, ctx) => {
  try {
    coordinatorUrls(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
  }
});
