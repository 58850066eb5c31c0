// The highest deploy sequence number this host has applied per role and environment,
// kept on disk so that a replayed or late event of an older deploy never runs after a
// newer one, even across agent restarts. One small JSON file, replaced atomically.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { GrapevineError, errorMessage } from '../../shared/contract/errors.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';

export interface AppliedDeploys {
  /** The highest seq this host reached a final state for in `group`, or undefined when none. */
  highest(group: DeployGroup): Promise<number | undefined>;
  /** Records that this host reached a final state for deploy `seq` of `group` (a lower seq leaves the record as is). */
  record(group: DeployGroup, seq: number): Promise<void>;
}

/** The state directory could not be read or written. */
export class AgentStateError extends GrapevineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('agent_state', message, options);
  }
}

const AppliedFile = z.object({ v: z.literal(1), applied: z.record(z.string(), z.number().int().nonnegative()) });
type AppliedFile = z.infer<typeof AppliedFile>;

const FILE_NAME = 'applied-deploys.json';

export class FileAppliedDeploys implements AppliedDeploys {
  private readonly file: string;
  /** Writes go one at a time, so a slower write can never replace a newer one. */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {
    this.file = join(dir, FILE_NAME);
  }

  async highest(group: DeployGroup): Promise<number | undefined> {
    return (await this.read()).applied[keyOf(group)];
  }

  record(group: DeployGroup, seq: number): Promise<void> {
    const write = this.writing.then(async () => {
      const state = await this.read();
      const key = keyOf(group);
      if ((state.applied[key] ?? 0) >= seq) return;
      state.applied[key] = seq;
      await this.write(state);
    });
    this.writing = write.catch(() => undefined);
    return write;
  }

  private async read(): Promise<AppliedFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { v: 1, applied: {} };
      throw new AgentStateError(`cannot read ${this.file}: ${errorMessage(error)}`, { cause: error });
    }
    try {
      return AppliedFile.parse(JSON.parse(text));
    } catch (error) {
      throw new AgentStateError(`${this.file} is not a record of applied deploys: ${errorMessage(error)}`, { cause: error });
    }
  }

  private async write(state: AppliedFile): Promise<void> {
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      // Only this agent reads it; 0700 keeps other users from planting an older seq.
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const handle = await open(temporary, 'w', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(state)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      // A crash mid-write leaves the old file whole: rename replaces it in one step.
      await rename(temporary, this.file);
    } catch (error) {
      throw new AgentStateError(`cannot write ${this.file}: ${errorMessage(error)}`, { cause: error });
    }
  }
}

function keyOf({ role, env }: DeployGroup): string {
  return `${role}/${env}`;
}
