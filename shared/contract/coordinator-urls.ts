// The fleet's coordinators as the CLI, the agents and their config name them: one URL,
// several separated by commas (`--coordinator`, GRAPEVINE_COORDINATOR), or a list (config).
import * as z from 'zod';
import { ValidationError } from './errors.js';

/** Each an http(s) URL, trailing slashes dropped, duplicates once; a ValidationError naming the URL that is not one. */
export function coordinatorUrls(value: string | readonly string[]): string[] {
  const urls = (typeof value === 'string' ? value.split(',') : value).map((url) => url.trim().replace(/\/+$/, '')).filter((url) => url !== '');
  if (urls.length === 0) throw new ValidationError('no coordinator URL given');
  for (const url of urls) {
    const protocol = URL.canParse(url) ? new URL(url).protocol : '';
    if (protocol !== 'http:' && protocol !== 'https:') throw new ValidationError(`coordinator URL ${url} must start with http:// or https://`);
  }
  return [...new Set(urls)];
}

/** A config's coordinator URL: one string (commas allowed) or a list; kept as given, checked with coordinatorUrls. */
export const CoordinatorUrlSetting = z.union([z.string(), z.array(z.string()).min(1)]).superRefine((value, ctx) => {
  try {
    coordinatorUrls(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
  }
});
