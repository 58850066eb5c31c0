// Which of Redis Cluster's 16384 slots holds a key: the keys one script or MULTI touches
// must all map to one slot, which is what the `{...}` hash tags in redis-keys.ts ensure.

/** CRC16 (XMODEM) of the key's hash tag, or of the whole key, mod 16384: Redis Cluster's CLUSTER KEYSLOT. */
export function clusterKeySlot(key: string): number {
  const bytes = Buffer.from(key);
  const open = bytes.indexOf(0x7b);
  let data = bytes;
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) data = bytes.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
