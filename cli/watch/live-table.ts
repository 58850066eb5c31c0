// The live table `--wait` draws on a terminal, redrawn in place (log-update) when the deploy
// changes and on a steady tick so elapsed times move, at most four times a second. The
// terminal is given back as it was (the cursor shown, the last frame kept) when the deploy
// ends, when following fails, and on Ctrl-C, which then stops the CLI as it always did.
import { createLogUpdate } from 'log-update';
import type { Deploy } from '../../shared/contract/schemas.js';
import type { ProgressView } from '../deploy-watch.js';
import { progressFrame } from './progress-table.js';

/** Redraws at most this often; each redraw writes only the lines that changed. */
const TICK_MS = 250;
/** A pseudo-terminal nobody sized says 0 columns and 0 rows; log-update would draw nothing. */
const DEFAULT_COLUMNS = 80;
const DEFAULT_ROWS = 24;
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export interface LiveTableOptions {
  color: boolean;
  now?: () => number;
}

export class LiveTable implements ProgressView {
  private readonly draw: ReturnType<typeof createLogUpdate>;
  private readonly now: () => number;
  private latest: Deploy | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private released = false;
  private readonly onSignal = (signal: NodeJS.Signals) => this.interrupted(signal);

  constructor(
    private readonly terminal: NodeJS.WriteStream,
    private readonly options: LiveTableOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.draw = createLogUpdate(drawingSurface(terminal));
    for (const signal of STOP_SIGNALS) process.once(signal, this.onSignal);
  }

  update(deploy: Deploy): void {
    this.latest = deploy;
    if (this.ticker !== undefined || this.released) return;
    this.render();
    this.ticker = setInterval(() => this.render(), TICK_MS);
  }

  end(deploy: Deploy): void {
    this.latest = deploy;
    this.render();
    this.release();
  }

  abandon(): void {
    this.release();
  }

  private render(): void {
    if (!this.latest || this.released) return;
    const { columns, rows } = sizeOf(this.terminal);
    this.draw(progressFrame(this.latest, { now: this.now(), columns, rows, color: this.options.color }));
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    clearInterval(this.ticker);
    for (const signal of STOP_SIGNALS) process.off(signal, this.onSignal);
    // Keeps the last frame on screen and shows the cursor again.
    this.draw.done();
  }

  /** Ctrl-C (or a TERM) stops watching, not the deploy: the terminal is restored, then the signal is raised again so the CLI ends by it as before. */
  private interrupted(signal: NodeJS.Signals): void {
    this.release();
    const id = this.latest?.id;
    // The terminal echoed ^C where the cursor stood, below the table: the notice takes that line.
    const takeLine = process.stderr.isTTY ? '\r\u001B[K' : '';
    if (id !== undefined) process.stderr.write(`${takeLine}grapevine: stopped following deploy ${id}; it goes on: grapevine status ${id} --wait\n`);
    process.kill(process.pid, signal);
  }
}

/** The terminal's size; what an unsized pseudo-terminal reports (0 by 0) is taken as 80 by 24. */
function sizeOf(terminal: NodeJS.WriteStream): { columns: number; rows: number } {
  return {
    columns: terminal.columns > 0 ? terminal.columns : DEFAULT_COLUMNS,
    rows: terminal.rows > 0 ? terminal.rows : DEFAULT_ROWS,
  };
}

/** What log-update draws on: the terminal, with a usable size. */
function drawingSurface(terminal: NodeJS.WriteStream): NodeJS.WritableStream {
  const surface = {
    isTTY: true,
    get columns() {
      return sizeOf(terminal).columns;
    },
    get rows() {
      return sizeOf(terminal).rows;
    },
    write: (text: string) => terminal.write(text),
  };
  return surface as unknown as NodeJS.WritableStream;
}
