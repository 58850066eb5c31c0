// A step's signal: its parent's abort or its own deadline fires it, and once released
// neither does.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deadlineSignal } from '../../shared/contract/waiting.js';
import { TimeoutError } from '../../shared/contract/errors.js';

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe('deadline signal', () => {
  it('fires with the parent, carrying its reason', () => {
    const parent = new AbortController();
    const deadline = deadlineSignal(parent.signal, 1_000);
    const reason = new Error('agent stopping');
    parent.abort(reason);
    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.signal.reason).toBe(reason);
    expect(deadline.timedOut).toBe(false);
  });

  it('fires once its deadline passes, and says so', () => {
    const deadline = deadlineSignal(new AbortController().signal, 1_000);
    vi.advanceTimersByTime(999);
    expect(deadline.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.timedOut).toBe(true);
    expect(deadline.signal.reason).toBeInstanceOf(TimeoutError);
  });

  it('starts aborted under a parent that already fired', () => {
    const parent = new AbortController();
    parent.abort(new Error('gone'));
    expect(deadlineSignal(parent.signal, 1_000).signal.aborted).toBe(true);
  });

  it('fires for neither once released', () => {
    const parent = new AbortController();
    const deadline = deadlineSignal(parent.signal, 1_000);
    deadline.release();
    parent.abort(new Error('after the step'));
    vi.advanceTimersByTime(5_000);
    expect(deadline.signal.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });
});
