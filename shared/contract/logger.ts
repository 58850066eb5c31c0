import pino, { type Logger } from 'pino';
import { errWithoutCredentials } from './log-redaction.js';

export type { Logger };

/** JSON lines on stderr (stdout belongs to the CLI's output); secrets never printed. */
export function createLogger(name: string, level = 'info'): Logger {
  return pino(
    {
      name,
      level,
      serializers: { err: errWithoutCredentials },
      redact: {
        paths: ['token', '*.token', 'rpcAuth', '*.rpcAuth', 'encryptKey', '*.encryptKey', 'headers.authorization', 'redis', '*.redis', 'password', '*.password'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}
