import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON lines on stderr (stdout belongs to the CLI's output); secrets never printed. */
export function createLogger(name: string, level = 'info'): Logger {
  return pino(
    {
      name,
      level,
      redact: {
        paths: ['token', '*.token', 'rpcAuth', '*.rpcAuth', 'encryptKey', '*.encryptKey', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}
