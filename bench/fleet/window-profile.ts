// A CPU profile of the fleet coordinator over the deploy alone (from the bench's first sample
// to its second), where `--cpu-prof` would mix in the set-up: creating N host credentials
// costs as much CPU as the deploy. Written to GRAPEVINE_BENCH_PROFILE_DIR when it is set.
import { Session } from 'node:inspector/promises';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export class WindowProfile {
  #session: Session | undefined;

  constructor(private readonly dir: string | undefined) {}

  /** Starts the profile on the first call and writes it on the second; nothing without a directory. */
  async mark(): Promise<void> {
    if (this.dir === undefined) return;
    if (!this.#session) {
      this.#session = new Session();
      this.#session.connect();
      await this.#session.post('Profiler.enable');
      await this.#session.post('Profiler.start');
      return;
    }
    const { profile } = await this.#session.post('Profiler.stop');
    await writeFile(join(this.dir, `coordinator-deploy-${process.pid}.cpuprofile`), JSON.stringify(profile));
    this.#session.disconnect();
  }
}
