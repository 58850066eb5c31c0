// The docker adapter tells "the registry or the engine did not answer" from "it said no"
// by the words the engine and compose use: what they print in each case.
import { describe, expect, it } from 'vitest';
import { saysNoAnswer } from '../../shared/docker/no-answer.js';

describe('reading a Docker failure as "did not answer"', () => {
  it.each([
    'Get "https://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused',
    'Get "https://registry:5000/v2/": dial tcp: lookup registry on 127.0.0.11:53: no such host',
    'Get "https://10.0.0.5:5000/v2/web/manifests/v2": net/http: TLS handshake timeout',
    'Get "http://10.0.0.5:5000/v2/": dial tcp 10.0.0.5:5000: i/o timeout',
    'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
    'received unexpected HTTP status: 503 Service Unavailable',
  ])('no answer: %s', (text) => {
    expect(saysNoAnswer(text)).toBe(true);
  });

  it.each([
    'manifest for 127.0.0.1:5000/web:v9 not found: manifest unknown: manifest unknown',
    'pull access denied for web, repository does not exist or may require \'docker login\'',
    'Error response from daemon: No such image: 127.0.0.1:5000/web:never-built',
    'filesystem layer verification failed for digest sha256:0123',
  ])('an answer that says no: %s', (text) => {
    expect(saysNoAnswer(text)).toBe(false);
  });
});
