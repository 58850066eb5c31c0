// One lane per role and environment: a host takes part in one deploy of a group at a
// time, in the order the events reached it. Two deploys fired close together (v2, then
// v3) would otherwise replace the same container at once, and the older image could be
// the one left running.

export class GroupLanes {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `task` after every task queued before it under the same key; tasks under other keys run at once. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
