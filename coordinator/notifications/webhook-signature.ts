// How a JSON target knows a delivery came from this coordinator and is not an old one sent
// again: HMAC-SHA256 with the target's secret over `<timestamp>.<body>`, the timestamp in
// its own header. `verifyWebhookSignature` is what a receiver does (README, "Insight").
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-grapevine-signature';
/** Seconds since the epoch when this try was sent: each try is signed anew. */
export const TIMESTAMP_HEADER = 'x-grapevine-timestamp';
/** The notification's id, the same on every try: a receiver drops a duplicate by it. */
export const DELIVERY_HEADER = 'x-grapevine-delivery';
/** The notification's kind, to route without parsing the body. */
export const EVENT_HEADER = 'x-grapevine-event';

/** A receiver refuses a timestamp further than this from its own clock: a replay of an old delivery. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** `sha256=<hex>` of HMAC-SHA256(secret, `${timestamp}.${body}`). */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface ReceivedDelivery {
  /** The body exactly as received, before any parsing. */
  body: string;
  signature: string | undefined;
  timestamp: string | undefined;
}

/** Whether a delivery is signed with `secret` and recent by `nowSeconds`; compared in constant time. */
export function verifyWebhookSignature(secret: string, delivery: ReceivedDelivery, nowSeconds: number, toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS): boolean {
  const { body, signature, timestamp } = delivery;
  if (signature === undefined || timestamp === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(webhookSignature(secret, Number(timestamp), body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
