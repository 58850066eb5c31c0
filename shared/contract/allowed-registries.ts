// The registries a coordinator accepts release images from (its `registries` setting):
// each a registry host or a path prefix in one, reached over https unless marked plainHttp.
import * as z from 'zod';
import { isRegistryHost, repositoryName, type ImageReference } from './image-reference.js';

export interface AllowedRegistry {
  /** `registry.example.com`, `127.0.0.1:5000` or a prefix such as `registry.example.com/team`. */
  address: string;
  /** Plain http instead of https: only for a registry on loopback or a link nobody else can reach. */
  plainHttp: boolean;
}

const registryAddress = z
  .string()
  .regex(/^[a-z0-9.-]+(:\d{1,5})?(\/[a-z0-9._-]+)*$/, 'must be a registry address like registry.example.com, 127.0.0.1:5000 or registry.example.com/team')
  .refine((address) => isRegistryHost(address.split('/')[0] ?? ''), 'must start with a registry host: one with a dot or a port, or localhost');

/** `address` alone (https), or `{ address, plainHttp: true }`. */
export const AllowedRegistries = z
  .array(
    z.union([
      registryAddress.transform((address): AllowedRegistry => ({ address, plainHttp: false })),
      z.strictObject({ address: registryAddress, plainHttp: z.boolean().default(false) }),
    ]),
  )
  .min(1, 'must list at least one registry');

/** The coordinator's list: `registries`, or the default registry alone (over https) when the config lists none. */
export function allowedRegistries(config: { registry: string; registries?: AllowedRegistry[] | undefined }): AllowedRegistry[] {
  return config.registries ?? [{ address: config.registry, plainHttp: false }];
}

function covers(entry: AllowedRegistry, name: string): boolean {
  return name === entry.address || name.startsWith(`${entry.address}/`);
}

/** The entry an image's repository falls under (the longest prefix), or undefined when none allows it. */
export function allowedRegistryOf(image: ImageReference, allowed: AllowedRegistry[]): AllowedRegistry | undefined {
  const name = repositoryName(image);
  return allowed.filter((entry) => covers(entry, name)).sort((a, b) => b.address.length - a.address.length)[0];
}

/**
 * The default registry must be one the list allows: adding it by itself would widen the list
 * behind the operator's back, so a config that leaves it out is refused instead.
 */
export function registryProblems(config: { registry: string; registries?: AllowedRegistry[] | undefined }): string[] {
  if (!isRegistryHost(config.registry.split('/')[0] ?? '')) {
    return [`registry ${config.registry} must start with a registry host: one with a dot or a port, or localhost`];
  }
  const allowed = allowedRegistries(config);
  if (allowed.some((entry) => covers(entry, config.registry))) return [];
  return [`registry ${config.registry} (the default for a publish that names no image) must be one of registries (${allowed.map((entry) => entry.address).join(', ')}) or under one of them`];
}

export function describeAllowed(allowed: AllowedRegistry[]): string {
  return allowed.map((entry) => entry.address).join(', ');
}
