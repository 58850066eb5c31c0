// The commands that run a long-lived process (`coordinator`, `agent`, `lb-relay`) until
// SIGTERM or SIGINT. Each imports what it runs only when it runs, off the CLI's other paths.
import type { Command } from 'commander';
import { errorMessage } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import { TIMED_OUT, within } from '../shared/contract/waiting.js';

/** The coordinator exits within 5 s of SIGTERM whatever is down: its stop is cut at 4.5 s. */
const COORDINATOR_STOP_LIMIT_MS = 4_500;
/** After a bounded stop, how long open handles may keep the process before it exits. */
const EXIT_GRACE_MS = 300;

interface Running {
  stop(): Promise<void>;
}

/**
 * Runs a service until SIGTERM or SIGINT, then stops it. With `stopLimitMs`, a stop that
 * has not ended by then is cut short and the process exits anyway (code 1).
 */
function runForever(start: () => Promise<Running>, stopLimitMs?: number): Promise<void> {
  return start().then(
    (running) =>
      new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          const stopped = stopLimitMs === undefined ? running.stop() : within(running.stop(), stopLimitMs);
          void stopped
            .then((outcome) => {
              if (outcome !== TIMED_OUT) return;
              console.error(`grapevine: the stop did not end within ${stopLimitMs} ms; exiting anyway`);
              process.exitCode = 1;
            }, (error: unknown) => {
              console.error(`grapevine: stop failed: ${errorMessage(error)}`);
              process.exitCode = 1;
            })
            .finally(() => {
              resolve();
              // A handle left open (a socket to a service that is down) must not keep the process.
              if (stopLimitMs !== undefined) setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
            });
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      }),
  );
}

/** What a service command imports when it runs: how it reads its config, and how it starts. */
interface ServiceModules<C extends { logLevel?: string }> {
  loadConfig(file: string | undefined, env: NodeJS.ProcessEnv): C;
  start(config: C, logger: Logger): Promise<Running>;
}

interface ServiceCommand {
  name: string;
  description: string;
  /** Loads the config file and starts the service, importing its modules only now. */
  start(configFile: string | undefined): Promise<Running>;
  stopLimitMs?: number;
}

/** A service command whose logger is named after it. */
function serviceCommand<C extends { logLevel?: string }>(spec: {
  name: string;
  description: string;
  stopLimitMs?: number;
  load: () => Promise<ServiceModules<C>>;
}): ServiceCommand {
  return {
    name: spec.name,
    description: spec.description,
    ...(spec.stopLimitMs === undefined ? {} : { stopLimitMs: spec.stopLimitMs }),
    async start(configFile) {
      const [{ createLogger }, service] = await Promise.all([import('../shared/contract/logger.js'), spec.load()]);
      const config = service.loadConfig(configFile, process.env);
      return service.start(config, createLogger(spec.name, config.logLevel));
    },
  };
}

const SERVICE_COMMANDS: ServiceCommand[] = [
  serviceCommand({
    name: 'coordinator',
    description: 'run the coordinator (releases, deploys, Serf events)',
    stopLimitMs: COORDINATOR_STOP_LIMIT_MS,
    load: async () => {
      const [{ loadCoordinatorConfig }, { startCoordinator }] = await Promise.all([import('../shared/contract/config.js'), import('../coordinator/server.js')]);
      return { loadConfig: loadCoordinatorConfig, start: startCoordinator };
    },
  }),
  serviceCommand({
    name: 'agent',
    description: "run a host's agent beside its own Serf agent",
    load: async () => {
      const [{ loadAgentConfig }, { startAgent }] = await Promise.all([import('../shared/contract/config.js'), import('../agent/agent.js')]);
      return { loadConfig: loadAgentConfig, start: startAgent };
    },
  }),
  serviceCommand({
    name: 'lb-relay',
    description: "run the load balancer's relay: hosts drain and register their own server in the local HAProxy",
    stopLimitMs: COORDINATOR_STOP_LIMIT_MS,
    load: async () => {
      const [{ loadRelayConfig }, { startRelay }] = await Promise.all([import('../shared/contract/relay-config.js'), import('../lb-relay/server.js')]);
      return { loadConfig: loadRelayConfig, start: startRelay };
    },
  }),
];

export function registerServiceCommands(program: Command): void {
  for (const service of SERVICE_COMMANDS) {
    program
      .command(service.name)
      .description(service.description)
      .option('--config <file>', 'YAML or JSON config file')
      .action(async (options: { config?: string }) => {
        await runForever(() => service.start(options.config), service.stopLimitMs);
      });
  }
}
