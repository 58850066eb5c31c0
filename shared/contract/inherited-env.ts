// What a process the agent starts (a deploy hook, `docker compose`) keeps of the agent's own
// environment: named variables only, so the agent's token, Redis password or Serf keys never
// reach a hook, nor a compose file that interpolates them into an app's container.

/** What any program expects: where programs are, the home directory, locale and time zone. */
export const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ'] as const;

/**
 * `docker compose` also gets DOCKER_CONFIG: the Docker client's directory (in place of
 * ~/.docker), which may hold the compose plugin itself and the registry credentials.
 * PATH is where `docker` and its credential helpers are found. The engine is always the
 * agent's DOCKER_HOST, so DOCKER_CONTEXT, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are left
 * out; COMPOSE_* would change the project or file the agent names, and proxies can carry a
 * password (the engine, not compose, pulls).
 */
export const COMPOSE_INHERITED_ENV = [...INHERITED_ENV, 'DOCKER_CONFIG'] as const;

/** The variables of `env` named in `names` that are set, and nothing else. */
export function inheritedEnv(names: readonly string[], env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(names.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]]])));
}
