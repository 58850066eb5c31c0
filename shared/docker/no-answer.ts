// What the Docker engine and compose say when something behind them did not answer: the
// registry behind a pull (Go's network errors, relayed by the engine), or the engine behind
// compose. Read here, where their words enter, so the rest of Grapevine gets an
// UnreachableError (retry, never break a release) instead of matching words itself.
const NO_ANSWER =
  /connection refused|connection reset|i\/o timeout|no such host|no route to host|network is unreachable|tls handshake timeout|context deadline exceeded|request canceled|client\.timeout|unexpected eof|cannot connect to the docker daemon|is the docker daemon running|error during connect|\b(502|503|504)\b.*(bad gateway|service unavailable|gateway time-?out)/i;

/** True when the engine's or compose's text says a service did not answer (rather than said no). */
export function saysNoAnswer(text: string): boolean {
  return NO_ANSWER.test(text);
}
