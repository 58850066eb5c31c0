// The same rollout done by Ansible (bench/ansible/playbook.yml) on the hosts of a local
// cluster: an inventory of local-connection hosts, a tuned ansible.cfg, one timed run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { DevClusterState } from '../dev-cluster/cluster-state.js';
import { PROJECT_ROOT, SAMPLE_ROLE } from '../dev-cluster/sample-app.js';
import { colourServer } from './rollout-checks.js';

const PLAYBOOK = join(PROJECT_ROOT, 'bench', 'ansible', 'playbook.yml');

export interface AnsibleRolloutOptions {
  state: DevClusterState;
  /** Hosts per batch: the agents' slot count, so both tools run the same waves. */
  batch: number;
  /** Seconds between health polls (Ansible's `delay` takes whole seconds). */
  healthDelay: number;
  /** `free` lets each host of a batch run ahead; `linear` holds every task until the whole batch did it. */
  strategy: 'free' | 'linear';
  /** Where the inventory, config and Ansible's temp files go. */
  dir: string;
}

export interface AnsibleRun {
  wallMs: number;
  exitCode: number;
  output: string;
}

/** Writes the inventory and ansible.cfg once per cluster; returns a function that runs one rollout. */
export function prepareAnsible(options: AnsibleRolloutOptions): (image: string, signal: AbortSignal, timeoutMs: number) => Promise<AnsibleRun> {
  const { state, batch, healthDelay, strategy, dir } = options;
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const hosts = Object.fromEntries(
    state.hosts
      .filter((host) => host.env === 'production')
      .map((host) => {
        // The live colour, blue, as the agents' rolling deploys replace it: its own compose project, port and server.
        const server = colourServer(host, 'blue');
        return [
          host.name,
          {
            ansible_connection: 'local',
            ansible_python_interpreter: '/usr/bin/python3',
            gv_backend: SAMPLE_ROLE,
            gv_server: server.name,
            gv_address: server.address,
            gv_port: server.address.split(':').pop(),
            gv_project: `${host.project}-blue`,
            gv_dir: host.dir,
          },
        ];
      }),
  );
  const inventory = join(dir, 'inventory.yml');
  // JSON is YAML, and the yaml inventory plugin reads it.
  writeFileSync(inventory, JSON.stringify({ fleet: { hosts } }, null, 2));
  const config = join(dir, 'ansible.cfg');
  writeFileSync(
    config,
    [
      '[defaults]',
      // Every host of a batch at once, with room to spare.
      `forks = ${Math.max(batch, 5)}`,
      `strategy = ${strategy}`,
      'gathering = explicit',
      'retry_files_enabled = False',
      'host_key_checking = False',
      'interpreter_python = /usr/bin/python3',
      'stdout_callback = oneline',
      'callbacks_enabled =',
      'deprecation_warnings = False',
      'localhost_warning = False',
      `local_tmp = ${join(dir, 'tmp')}`,
      `remote_tmp = ${join(dir, 'tmp')}`,
      '',
      '[connection]',
      'pipelining = True',
      '',
    ].join('\n'),
  );
  return async (image, signal, timeoutMs) => {
    const extraVars = JSON.stringify({ gv_batch: batch, gv_image: image, gv_socket: state.runtimeSocket, gv_health_delay: healthDelay });
    const startedAt = Date.now();
    const result = await execa('ansible-playbook', ['-i', inventory, PLAYBOOK, '--extra-vars', extraVars], {
      env: { ANSIBLE_CONFIG: config, ANSIBLE_NOCOLOR: '1' },
      stdin: 'ignore',
      all: true,
      reject: false,
      timeout: timeoutMs,
      cancelSignal: signal,
      forceKillAfterDelay: 5_000,
    });
    const wallMs = Date.now() - startedAt;
    return { wallMs, exitCode: result.exitCode ?? -1, output: result.all ?? '' };
  };
}
