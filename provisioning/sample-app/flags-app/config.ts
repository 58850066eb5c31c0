// The flags app's settings, read once from its container's environment. A bad value stops the
// app with a line naming the variable (exit 64, as entrypoint.sh does for the other tags).

export interface FlagsAppConfig {
  /** The tag the image was built as: the first word of every answer. */
  version: string;
  host: string;
  port: number;
  /** Seconds to wait before listening, so a tag can be made slow to start (START_DELAY). */
  startDelayS: number;
  healthy: boolean;
  /** The OFREP provider's base URL, `${coordinator}/envs/${env}`; without it every answer shows the flag's default. */
  flagsUrl?: string;
  /** A file holding the flags-reader credential: read at each evaluation, so a rotated token needs no restart. */
  tokenFile?: string;
  /** How long one evaluation may wait for the coordinator before the default is served. */
  evaluationTimeoutMs: number;
}

export class FlagsAppConfigError extends Error {
  readonly code = 'FLAGS_APP_CONFIG';
}

const DEFAULT_EVALUATION_TIMEOUT_MS = 1_000;

export function readConfig(env: NodeJS.ProcessEnv, hostname: string): FlagsAppConfig {
  const problems: string[] = [];
  const whole = (name: string, fallback: number, max: number): number => {
    const raw = env[name] ?? String(fallback);
    if (!/^\d+$/.test(raw) || Number(raw) > max) {
      problems.push(`${name} must be a whole number from 0 to ${max}, got '${raw}'`);
      return fallback;
    }
    return Number(raw);
  };
  const port = whole('PORT', 8080, 65_535);
  const evaluationTimeoutMs = whole('GRAPEVINE_FLAGS_TIMEOUT_MS', DEFAULT_EVALUATION_TIMEOUT_MS, 60_000);
  const delayRaw = env.START_DELAY ?? '0';
  if (!/^\d+(\.\d+)?$/.test(delayRaw)) problems.push(`START_DELAY must be a number of seconds, got '${delayRaw}'`);
  const flagsUrl = env.GRAPEVINE_FLAGS_URL || undefined;
  if (flagsUrl !== undefined && !isHttpUrl(flagsUrl)) problems.push(`GRAPEVINE_FLAGS_URL must be an http(s) URL, got '${flagsUrl}'`);
  if (problems.length > 0) throw new FlagsAppConfigError(problems.join('; '));
  return {
    version: env.APP_VERSION || 'dev',
    host: env.HOST_NAME || hostname,
    port,
    startDelayS: Number(delayRaw),
    healthy: (env.APP_HEALTHY ?? 'true') === 'true',
    // The provider appends /ofrep/v1/...: a trailing slash would double it.
    ...(flagsUrl === undefined ? {} : { flagsUrl: flagsUrl.replace(/\/+$/, '') }),
    ...(env.GRAPEVINE_FLAGS_TOKEN_FILE ? { tokenFile: env.GRAPEVINE_FLAGS_TOKEN_FILE } : {}),
    evaluationTimeoutMs,
  };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
