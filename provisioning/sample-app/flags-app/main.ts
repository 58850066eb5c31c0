// The sample app's v4-flags tag: a Node HTTP app, bundled into one file and run by the Node
// binary copied into its image, that shows the `new-banner` flag read from the coordinator over
// OFREP. Node is PID 1 in the container, and the kernel drops signals PID 1 has no handler for:
// SIGTERM is handled here so that `docker stop` ends it at once, not after its grace.
import { hostname } from 'node:os';
import { openBannerFlag } from './banner-flag.js';
import { FlagsAppConfigError, readConfig } from './config.js';
import { listenFlagsApp, type RunningFlagsApp } from './server.js';

const log = (line: string) => console.log(`sample-app: ${line}`);

async function main(): Promise<void> {
  const config = readConfig(process.env, hostname());
  let app: RunningFlagsApp | undefined;
  const stop = () => {
    // Before the server listens there is nothing to drain.
    if (!app) process.exit(0);
    void app.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (config.startDelayS > 0) await new Promise((resolve) => setTimeout(resolve, config.startDelayS * 1000));
  const banner = await openBannerFlag({ ...config, log });
  app = await listenFlagsApp(config, banner);
  log(`${config.version} on port ${config.port}`);
}

main().catch((error: unknown) => {
  console.error(`sample-app: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(error instanceof FlagsAppConfigError ? 64 : 1);
});
