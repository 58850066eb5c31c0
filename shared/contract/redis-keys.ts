// Every Redis key Grapevine uses. Keys that one script or MULTI touches together share a
// hash tag `{...}`, so each such call stays in one slot of a Redis Cluster: the keys of one
// role and environment (`gv:{role:env}:...`, the only keys that may start `gv:{`: the
// agents' ACL pattern), those of one deploy, the credentials, one environment's flags.

const group = (role: string, env: string) => `gv:{${role}:${env}}`;

export const redisKeys = {
  /** Slot lock n (1..k); `'*'` gives the SCAN pattern of every slot of the group. */
  slot: (role: string, env: string, n: number | '*') => `${group(role, env)}:lock:${n}`,
  /** Sorted set of waiting hosts' tokens, oldest first: a released slot wakes the head. */
  waiters: (role: string, env: string) => `${group(role, env)}:waiters`,
  /**
   * List a waiting host blocks on; whoever wakes it pushes to it. The waker reads the
   * waiter's token from the waiters set and names this key in its script's KEYS.
   */
  wake: (role: string, env: string, token: string) => `${group(role, env)}:wake:${token}`,
  /**
   * Set of the group's hosts out of service for a deploy: a host joins when it takes a slot
   * and leaves once it serves again, so a dead holder keeps counting against k.
   */
  outOfService: (role: string, env: string) => `${group(role, env)}:out`,
  /** Counter (INCR) of the group's slot grants: each grant's epoch, so a report or log line says which grant a host acted under. */
  epoch: (role: string, env: string) => `${group(role, env)}:epoch`,
  /**
   * The group's freeze (JSON FreezeMark: reason, by, at, until?; with a PX when `until` is
   * set, so it lapses by itself): while it exists no waiting host takes a slot.
   */
  freeze: (role: string, env: string) => `${group(role, env)}:freeze`,
  /** Set of the hosts allowed a slot for this deploy (a canary's first hosts); absent means every host. */
  gate: (role: string, env: string, deployId: string) => `${group(role, env)}:deploy:${deployId}:gate`,
  /**
   * Sorted set of the tokens of hosts a freeze or a gate holds aside (token -> arrival order),
   * apart from the waiters so they swallow none of the wake-ups a release hands to the head.
   */
  held: (role: string, env: string) => `${group(role, env)}:held`,
  // Slot taking in O(1) whatever k (shared/redis/slot-locks.ts): the lock keys above stay the
  // truth of who holds a slot; these let a script find a free slot number without trying each.
  /** Sorted set of held slot numbers -> lease end (ms, Redis time), renewed with the lock key: lapsed numbers are found by score. */
  slotLeases: (role: string, env: string) => `${group(role, env)}:slot-leases`,
  /** Sorted set of released slot numbers at or below the top (score = number): the smallest free one is taken first. */
  freeSlots: (role: string, env: string) => `${group(role, env)}:free-slots`,
  /** The highest slot number ever handed out in the group; numbers above it are free. */
  slotTop: (role: string, env: string) => `${group(role, env)}:slot-top`,
  /** Hash of the out-of-service hosts' zones (host -> zone, "" for none), so the host's zone count drops when it serves again. */
  outZones: (role: string, env: string) => `${group(role, env)}:out-zones`,
  /** Hash of out-of-service hosts per zone (zone -> count; a zone at 0 is deleted, so HLEN counts the zones out). */
  zoneOut: (role: string, env: string) => `${group(role, env)}:zone-out`,
  /** Set of the zones whose hosts wait in a zone queue of their own (zone "" waits in `waiters`). */
  waitingZones: (role: string, env: string) => `${group(role, env)}:waiting-zones`,
  /** The waiters sorted set of one zone: zone "" is the group's `waiters`, so a fleet without zones keeps one queue. */
  zoneWaiters: (role: string, env: string, zone: string) => (zone === '' ? `${group(role, env)}:waiters` : `${group(role, env)}:waiters:zone:${zone}`),
  /** Set when a deploy ends before every host took part (past its deadline): its waiting hosts stand down. */
  deployStopped: (role: string, env: string, deployId: string) => `${group(role, env)}:deploy:${deployId}:stopped`,
  /** The group's route table (JSON RouteTable, shared/contract/routing.ts) as the coordinator last applied it to the load balancer. */
  routes: (role: string, env: string) => `${group(role, env)}:routes`,
  /** Hash of the group's retired clusters (cluster -> JSON: when, by whom): their hosts are not put back in service. */
  retiredClusters: (role: string, env: string) => `${group(role, env)}:retired-clusters`,
  remaining: (role: string, env: string, deployId: string) => `${group(role, env)}:deploy:${deployId}:remaining`,
  finishedHosts: (role: string, env: string, deployId: string) => `${group(role, env)}:deploy:${deployId}:done`,
  broken: (role: string, env: string, tag: string) => `${group(role, env)}:broken:${tag}`,
  /** The deploy's once-per-deploy job: its outcome (JSON), once recorded by the host that ran it. */
  job: (role: string, env: string, deployId: string) => `${group(role, env)}:deploy:${deployId}:job`,
  /** The fenced lease of the host running the deploy's job (its token; short, renewed). */
  jobLock: (role: string, env: string, deployId: string) => `${group(role, env)}:deploy:${deployId}:job:lock`,
  /** Counter (INCR) of the hosts that took the deploy's job: more than 1 means a host took over. */
  jobAttempts: (role: string, env: string, deployId: string) => `${group(role, env)}:deploy:${deployId}:job:attempts`,

  // The coordinator's store.
  releases: (role: string) => `gv:releases:${role}`,
  // A deploy's own keys carry its id as hash tag: every script on one deploy touches one slot.
  /** The deploy record (JSON); rewritten only when the deploy changes, never by a report. */
  deploy: (id: string) => `gv:deploy:{${id}}`,
  /** Hash of the deploy's host reports: host -> latest report JSON. */
  deployHosts: (id: string) => `gv:deploy:{${id}}:hosts`,
  /**
   * Hash of what a report changes, constant in size: status, rev (bumped on each rewrite of
   * the record, so a cached parse knows when it is stale), expectedHosts, countedDownAt,
   * targets (how many), targetsEnded (targets with a final report).
   */
  deployMeta: (id: string) => `gv:deploy:{${id}}:meta`,
  /** Hash of host counts per state (the state of each host's latest report). */
  deployCounts: (id: string) => `gv:deploy:{${id}}:counts`,
  /** Set of the deploy's target hosts: a report asks whether its host is one. */
  deployTargets: (id: string) => `gv:deploy:{${id}}:targets`,
  /** Hash of the hosts whose latest state is failed, errored, cancelled or lost (host -> state): what the outcome names. */
  deployUnsuccessful: (id: string) => `gv:deploy:{${id}}:unsuccessful`,
  deploys: () => 'gv:deploys',
  /** Narrower indexes of the same deploys, so a filtered list reads only what it returns. */
  deploysOfRole: (role: string) => `gv:deploys-by-role:${role}`,
  deploysOfEnv: (env: string) => `gv:deploys-by-env:${env}`,
  deploysOfGroup: (role: string, env: string) => `gv:deploys-by-group:${role}:${env}`,
  desired: (role: string, env: string) => `gv:desired:${role}:${env}`,
  /** Counter (INCR) giving each deploy of a role and environment its sequence number. */
  deploySeq: (role: string, env: string) => `gv:deploy-seq:${role}:${env}`,
  /** Sorted set of the deploys still in progress (score: created at), so the watchdog never scans history. */
  deploysInProgress: () => 'gv:deploys-in-progress',
  /** Set of the environments a role was ever deployed to: where a broken mark must stop its rollouts. */
  envsOfRole: (role: string) => `gv:envs-of-role:${role}`,
  /** Claimed (SET NX) by the one report that promotes a succeeded deploy. */
  promotionClaim: (id: string) => `gv:deploy:{${id}}:promotion`,

  /** Hash of one environment's feature flags (name -> JSON Flag); the hash tag keeps it and its version in one slot. */
  flags: (env: string) => `gv:flags:{${env}}`,
  /** Counter (INCR) of the environment's flag changes, bumped in the script that makes each: the OFREP bulk answer's ETag. */
  flagsVersion: (env: string) => `gv:flags:{${env}}:version`,
  /** Set of the environments that ever had a flag, so `flag list` without --env reads only those. */
  flagEnvs: () => 'gv:flag-envs',

  /** Hash of each blue/green group's colours (`role:env` -> live colour, retired colour, when to retire): shared/redis/colour-state.ts. */
  colours: () => 'gv:colours',

  // Scoped credentials: written by the coordinator, read (GET only) by whatever verifies a token.
  // One hash tag for both: creating and revoking a credential write both in one call.
  /** Hash of every credential by id: its record and its token's hash, so `token list` and `token revoke` need no secret. */
  credentials: () => 'gv:auth:{credentials}',
  /** A credential's record (JSON) under its token's SHA-256 (hex): one GET verifies a token; expires with the credential. */
  credentialByToken: (tokenHash: string) => `gv:auth:{credentials}:token:${tokenHash}`,

  // Insight, written only by the coordinator.
  /** Stream of fleet events (shared/contract/fleet-events.ts) that `GET /v1/events` serves and resumes from; capped short. */
  events: () => 'gv:events',
  /** The fleet-wide audit log: a stream of who did what, capped by length and age. */
  audit: () => 'gv:audit',

  // Two coordinators (coordinator/leadership/): one tag, as the lease script touches both keys.
  /** The lease of the coordinator that runs the once-only work (watchdog, strategy runner): its holder's token, with a PX. */
  coordinatorLease: () => 'gv:coordinators:{lease}',
  /** Counter (INCR) of the lease's takes: each holder's fencing number. */
  coordinatorLeaseEpoch: () => 'gv:coordinators:{lease}:epoch',
  /** A deploy creation's idempotency key (the client's, per logical request) -> the deploy id, so a retry on another coordinator creates nothing twice. */
  createdByRequest: (key: string) => `gv:coordinators:{lease}:created:${key}`,

  // Locks between coordinators (coordinator/leadership/group-lock.ts): under gv:coordinators:, which agents' ACL does not reach.
  /** One group's lock (its holder's token, with a PX): route and retire checks, rollout and catch-up creation, a strategy's steps. */
  groupLock: (role: string, env: string) => `gv:coordinators:{${role}:${env}}:lock`,
  /** Hash of the quarantines waiting out their grace (role/env/tag -> JSON), so the leader takes up a dead coordinator's. */
  pendingQuarantines: () => 'gv:coordinators:{quarantine}:pending',
};
