// `grapevine dev traffic`: a steady stream of requests to a local cluster's load balancer, so
// that a canary has traffic to be judged on and an operator sees what users got during a
// deploy. The stream is dev-cluster/traffic.ts, loaded when the command runs; this is the wiring.
import { Command, Option } from 'commander';
import { ValidationError } from '../shared/contract/errors.js';

type Output = { print(value: unknown, text: string): void };

const ENVS = ['production', 'staging'] as const;

function number(value: string, flag: string, min: number, max: number, unit: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new ValidationError(`${flag} must be ${min} to ${max} ${unit}, not "${value}"`);
  return n;
}

export function registerTrafficCommand(dev: Command, output: Output, defaultDir: string): void {
  dev
    .command('traffic')
    .description("send a steady stream of requests to the local cluster's load balancer, then print what came back")
    .addOption(new Option('--env <env>', 'which frontend: production or staging').choices(ENVS).default('production'))
    .option('--rate <n>', 'requests a second (at most 500)', '20')
    .option('--for <seconds>', 'how long (at most 600 s); Ctrl-C stops sooner', '60')
    .option('--dir <dir>', `the cluster's state folder (${defaultDir} unless --name)`)
    .option('--name <name>', "the cluster's name, for a cluster the tests or the benchmark brought up in a temporary folder")
    .action(async (options: { env: (typeof ENVS)[number]; rate: string; for: string; dir?: string; name?: string }) => {
      const ratePerSecond = number(options.rate, '--rate', 0.1, 500, 'requests a second');
      const seconds = number(options.for, '--for', 1, 600, 'seconds');
      if (options.dir !== undefined && options.name !== undefined) throw new ValidationError('give --dir or --name, not both');
      const { readClusterState } = await import('../dev-cluster/cluster-state.js');
      const { clusterDirNamed } = await import('../dev-cluster/cluster-by-name.js');
      const dir = options.name === undefined ? (options.dir ?? defaultDir) : clusterDirNamed(options.name, defaultDir);
      const state = readClusterState(dir);
      if (!state) throw new ValidationError(`no local cluster recorded in ${dir}: run grapevine dev up`);
      const url = options.env === 'production' ? state.lbUrl : state.stagingLbUrl;

      const { startTraffic, trafficLine } = await import('../dev-cluster/traffic.js');
      process.stderr.write(`dev traffic: ${ratePerSecond}/s to ${url} (${options.env}) for ${seconds} s\n`);
      const stream = startTraffic({ url, ratePerSecond, durationMs: seconds * 1000 });
      const stop = () => void stream.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        const summary = await stream.done;
        output.print({ env: options.env, url, ratePerSecond, seconds, ...summary }, trafficLine(summary));
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
