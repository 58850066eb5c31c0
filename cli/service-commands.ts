// The commands that run a long-lived process (`coordinator`, `agent`, `lb-relay`) until
// SIGTERM or SIGINT. Each imports what it runs only when it runs, off the CLI's other paths.
import type { Command } from 'commander';
import { errorMessage } from '../shared/contract/errors.js';
import { TIMED_OUT, within } from '../shared/contract/waiting.js';

/** The coordinator exits within 5 s of SIGTERM whatever is down: its stop is cut at 4.5 s. */
const COORDINATOR_STOP_LIMIT_MS = 4_500;
/** After a bounded stop, how long open handles may keep the process before it exits. */
const EXIT_GRACE_MS = 300;

/**
 * Runs a service until SIGTERM or SIGINT, then stops it. With `stopLimitMs`, a stop that
 * has not ended by then is cut short and the process exits anyway (code 1).
 */
function runForever(start: () => Promise<{ stop(): Promise<void> }>, stopLimitMs?: number): Promise<void> {
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

export function registerServiceCommands(program: Command): void {
  program
    .command('coordinator')
    .description('run the coordinator (releases, deploys, Serf events)')
    .option('--config <file>', 'YAML or JSON config file')
    .action(async (options: { config?: string }) => {
      const [{ loadCoordinatorConfig }, { createLogger }, { startCoordinator }] = await Promise.all([
        import('../shared/contract/config.js'),
        import('../shared/contract/logger.js'),
        import('../coordinator/server.js'),
      ]);
      const config = loadCoordinatorConfig(options.config, process.env);
      const logger = createLogger('coordinator', config.logLevel);
      await runForever(() => startCoordinator(config, logger), COORDINATOR_STOP_LIMIT_MS);
    });

  program
    .command('agent')
    .description("run a host's agent beside its own Serf agent")
    .option('--config <file>', 'YAML or JSON config file')
    .action(async (options: { config?: string }) => {
      const [{ loadAgentConfig }, { createLogger }, { startAgent }] = await Promise.all([
        import('../shared/contract/config.js'),
        import('../shared/contract/logger.js'),
        import('../agent/agent.js'),
      ]);
      const config = loadAgentConfig(options.config, process.env);
      const logger = createLogger('agent', config.logLevel);
      await runForever(() => startAgent(config, logger));
    });

  program
    .command('lb-relay')
    .description("run the load balancer's relay: hosts drain and register their own server in the local HAProxy")
    .option('--config <file>', 'YAML or JSON config file')
    .action(async (options: { config?: string }) => {
      const [{ loadRelayConfig }, { createLogger }, { startRelay }] = await Promise.all([
        import('../shared/contract/relay-config.js'),
        import('../shared/contract/logger.js'),
        import('../lb-relay/server.js'),
      ]);
      const config = loadRelayConfig(options.config, process.env);
      const logger = createLogger('lb-relay', config.logLevel);
      await runForever(() => startRelay(config, logger), COORDINATOR_STOP_LIMIT_MS);
    });
}
