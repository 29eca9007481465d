import { describe, expect, it } from 'vitest';
import { loadUws } from '../../src/signaling/uws.js';

describe('loadUws', () => {
  it('loads the native binary on this machine', () => {
    const uws = loadUws();
    expect(typeof uws.App).toBe('function');
    expect(typeof uws.SSLApp).toBe('function');
  });
});
