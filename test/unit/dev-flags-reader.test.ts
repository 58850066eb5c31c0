// What the dev cluster hands each host's sample app for feature flags: the OFREP base URL of the
// host's own environment and the flags-reader token as a read-only file, never the token itself;
// with the cluster's own CA, that CA for Node to trust.
import { describe, expect, it } from 'vitest';
import { flagsReaderTokenFile, flagsSettingsOf } from '../../dev-cluster/flags-reader.js';

const state = { dir: '/tmp/gvx', coordinatorUrl: 'http://10.242.0.1:7000' };

describe('the sample app flags settings of a dev cluster host', () => {
  it("points at the coordinator's OFREP base URL of the host's environment, with the token file mounted read-only", () => {
    expect(flagsSettingsOf(state, 'staging')).toEqual({
      environment: { GRAPEVINE_FLAGS_URL: 'http://10.242.0.1:7000/envs/staging', GRAPEVINE_FLAGS_TOKEN_FILE: '/run/grapevine/flags-reader.token' },
      volumes: ['/tmp/gvx/flags-reader.token:/run/grapevine/flags-reader.token:ro'],
    });
    expect(flagsReaderTokenFile(state)).toBe('/tmp/gvx/flags-reader.token');
  });

  it("adds the cluster's CA on a TLS cluster", () => {
    const settings = flagsSettingsOf({ ...state, coordinatorUrl: 'https://10.242.0.1:7000', caFile: '/tmp/gvx/tls/ca.pem' }, 'production');
    expect(settings.environment).toMatchObject({ GRAPEVINE_FLAGS_URL: 'https://10.242.0.1:7000/envs/production', NODE_EXTRA_CA_CERTS: '/run/grapevine/ca.pem' });
    expect(settings.volumes).toContain('/tmp/gvx/tls/ca.pem:/run/grapevine/ca.pem:ro');
  });
});
