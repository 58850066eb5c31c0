// The Docker Engine calls of the local cluster harness: its private network, the small
// holder containers that own each host's network namespace, and their removal. Through
// dockerode at the Engine API version negotiated with the engine.
import type Docker from 'dockerode';
import * as z from 'zod';
import { GrapevineError, errorMessage } from '../contract/errors.js';
import { connectDocker, dockerReply } from './docker-client.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** An engine call of the cluster harness failed; the message names the call and the resource. */
export class ClusterContainerError extends GrapevineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('docker_call_failed', message, options);
  }
}

export interface HolderSpec {
  name: string;
  hostname: string;
  image: string;
  network: string;
  ip: string;
  labels: Record<string, string>;
}

const inspectReply = z.object({ Id: z.string(), State: z.object({ Pid: z.number().int(), Running: z.boolean() }) });
const listReply = z.array(z.object({ Id: z.string() }));

export class ClusterContainers {
  private constructor(private readonly docker: Docker) {}

  static async connect(socketPath = DEFAULT_DOCKER_SOCKET): Promise<ClusterContainers> {
    const { docker } = await connectDocker(socketPath);
    return new ClusterContainers(docker);
  }

  async createNetwork(name: string, subnet: string, gateway: string, labels: Record<string, string>): Promise<void> {
    await this.call(`network create ${name}`, () =>
      this.docker.createNetwork({ Name: name, CheckDuplicate: true, Labels: labels, IPAM: { Driver: 'default', Config: [{ Subnet: subnet, Gateway: gateway }] } }),
    );
  }

  /** Removes the network; one that is already gone is not an error. */
  async removeNetwork(name: string): Promise<void> {
    await this.remove(`network rm ${name}`, () => this.docker.getNetwork(name).remove());
  }

  /** `docker run -d`: a container that only sleeps, at a fixed address, to own a network namespace. Returns its main process's id. */
  async runHolder(spec: HolderSpec): Promise<{ id: string; pid: number }> {
    const container = await this.call(`create ${spec.name}`, () =>
      this.docker.createContainer({
        name: spec.name,
        Hostname: spec.hostname,
        Image: spec.image,
        Cmd: ['sleep', 'infinity'],
        Labels: spec.labels,
        HostConfig: { NetworkMode: spec.network },
        NetworkingConfig: { EndpointsConfig: { [spec.network]: { IPAMConfig: { IPv4Address: spec.ip } } } },
      }),
    );
    await this.call(`start ${spec.name}`, () => container.start());
    const pid = await this.pidOf(spec.name);
    return { id: container.id, pid };
  }

  /** The id of a running container's main process, as `docker inspect -f {{.State.Pid}}` gives it. */
  async pidOf(name: string): Promise<number> {
    const reply = await this.call(`inspect ${name}`, () => this.docker.getContainer(name).inspect());
    const { State } = dockerReply(inspectReply, reply, `inspect ${name}`);
    if (!State.Running || State.Pid <= 0) throw new ClusterContainerError(`container ${name} is not running`);
    return State.Pid;
  }

  /** Ids of every container, running or not, with the label `key=value` (`docker ps -aq --filter label=...`). */
  async idsWithLabel(key: string, value: string): Promise<string[]> {
    const reply = await this.call(`ps --filter label=${key}=${value}`, () => this.docker.listContainers({ all: true, filters: { label: [`${key}=${value}`] } }));
    return dockerReply(listReply, reply, 'GET /containers/json').map((c) => c.Id);
  }

  /** `docker rm -f` of each id; one already gone is not an error. */
  async removeForce(ids: readonly string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.remove(`rm -f ${id.slice(0, 12)}`, () => this.docker.getContainer(id).remove({ force: true }))));
  }

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw new ClusterContainerError(`docker ${what}: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** A removal: what is already gone (404) is what was asked for. */
  private async remove(what: string, send: () => Promise<unknown>): Promise<void> {
    try {
      await send();
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return;
      throw new ClusterContainerError(`docker ${what}: ${errorMessage(error)}`, { cause: error });
    }
  }
}
