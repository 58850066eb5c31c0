// The one flag the sample app reads, `new-banner`, evaluated for each request through the
// OpenFeature server SDK and its OFREP provider against the coordinator. Any failure (the
// coordinator down or slow, a refused credential, an unknown flag) serves the SDK's default,
// false: a flag can only ever turn the banner off, never the app.
import { readFileSync } from 'node:fs';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature, type Client, type Logger } from '@openfeature/server-sdk';

export const BANNER_FLAG = 'new-banner';
const DEFAULT_BANNER = false;

export interface BannerFlag {
  /** Whether the banner is on for this targeting key; never rejects. */
  isOn(targetingKey: string): Promise<boolean>;
}

export interface BannerFlagOptions {
  flagsUrl?: string;
  tokenFile?: string;
  evaluationTimeoutMs: number;
  log: (line: string) => void;
}

let domains = 0;

export async function openBannerFlag(options: BannerFlagOptions): Promise<BannerFlag> {
  if (options.flagsUrl === undefined) {
    options.log(`flags: no GRAPEVINE_FLAGS_URL, ${BANNER_FLAG} is ${DEFAULT_BANNER} for everyone`);
    return { isOn: () => Promise.resolve(DEFAULT_BANNER) };
  }
  // Two logs, each quiet while its outcome holds: a missing token file and the refusals it causes alternate on every request.
  const outcome = outcomeLog(options.log);
  const tokenProblem = outcomeLog(options.log);
  const provider = new OFREPProvider({
    baseUrl: options.flagsUrl,
    headersFactory: () => bearerFrom(options.tokenFile, tokenProblem),
    // The provider sets no deadline of its own: a coordinator that stops answering would hold every request.
    fetchImplementation: (input: string | URL | Request, init?: RequestInit) => fetch(input, { ...init, signal: AbortSignal.timeout(options.evaluationTimeoutMs) }),
  });
  // A domain of its own, so that two apps in one process (the tests) keep their own providers.
  // The OFREP provider holds no connection or timer, so it needs no closing when the app stops.
  const domain = `sample-app-${++domains}`;
  await OpenFeature.setProviderAndWait(domain, provider);
  const client: Client = OpenFeature.getClient(domain);
  // The SDK logs every failed evaluation; the app logs only when the outcome changes.
  client.setLogger(SILENT);
  options.log(`flags: evaluating ${BANNER_FLAG} at ${options.flagsUrl} on every request`);
  return {
    async isOn(targetingKey) {
      try {
        const details = await client.getBooleanDetails(BANNER_FLAG, DEFAULT_BANNER, { targetingKey });
        outcome(details.errorCode === undefined ? 'evaluated' : `serving the default ${DEFAULT_BANNER}: ${details.errorCode} ${details.errorMessage ?? ''}`.trim());
        return details.value;
      } catch (error) {
        outcome(`serving the default ${DEFAULT_BANNER}: ${error instanceof Error ? error.message : String(error)}`);
        return DEFAULT_BANNER;
      }
    },
  };
}

/** Logs a line only when it differs from the last one, so a coordinator that is down costs one line, not one per request. */
function outcomeLog(log: (line: string) => void): (line: string) => void {
  let last: string | undefined;
  return (line) => {
    if (line === last) return;
    last = line;
    log(`flags: ${BANNER_FLAG}: ${line}`);
  };
}

function bearerFrom(tokenFile: string | undefined, problem: (line: string) => void): Record<string, string> {
  if (tokenFile === undefined) return {};
  try {
    const token = readFileSync(tokenFile, 'utf8').trim();
    problem(token === '' ? `the token file ${tokenFile} is empty` : `reading the token file ${tokenFile}`);
    return token === '' ? {} : { Authorization: `Bearer ${token}` };
  } catch (error) {
    // Without a credential the coordinator refuses and the default is served; the line names the file, never a token.
    problem(`cannot read the token file ${tokenFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    return {};
  }
}

const SILENT: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
