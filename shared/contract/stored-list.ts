// A list inside a deploy record: the Lua scripts that update the record re-encode it with
// cjson, which writes an empty array as {}, so an empty object reads back as an empty list.
import * as z from 'zod';

export function storedList<T extends z.ZodType>(item: T, max: number) {
  return z.preprocess((value) => (isEmptyObject(value) ? [] : value), z.array(item).max(max));
}

function isEmptyObject(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0;
}
