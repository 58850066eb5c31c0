// The fleet's coordinators as the CLI, the agents and their config name them: one URL,
// several separated by commas (`--coordinator`, GRAPEVINE_COORDINATOR), or a list (config;
// its schema is in coordinator-url-setting.ts, so that reading a list loads no zod).
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
