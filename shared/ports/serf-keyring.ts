// The gossip keyring of the whole Serf cluster, as the coordinator's key rotation sees it:
// each change is sent to every member, and the answer says who answered and who failed.

export interface KeyringAnswer {
  /** Members the asking agent knew of (alive or suspect) when it asked. */
  members: number;
  /** How many of them answered, with success or an error. */
  answered: number;
  /** Members that answered with an error or a warning, by name, with what they said. */
  messages: Record<string, string>;
  /** How many answered with an error. */
  errors: number;
  /** For a listing: each installed key, with how many members hold it. */
  keys: Record<string, number>;
  /** Serf's own verdict when it was not a full success (a member silent or failing, a key it refused). */
  error?: string;
}

/** Whether every member the agent knew of answered, and none with an error. */
export function everyMemberAnswered(answer: KeyringAnswer): boolean {
  return answer.error === undefined && answer.errors === 0 && answer.answered >= answer.members;
}

export interface SerfKeyring {
  /** Adds a key every member can decrypt with; the primary key stays as it was. */
  install(key: string): Promise<KeyringAnswer>;
  /** Makes an installed key the one every member encrypts with. */
  use(key: string): Promise<KeyringAnswer>;
  /** Removes a key that is not the primary one. */
  remove(key: string): Promise<KeyringAnswer>;
  list(): Promise<KeyringAnswer>;
}
