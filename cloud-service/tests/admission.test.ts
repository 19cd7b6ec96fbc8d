import { describe, expect, it } from 'vitest';
import { createAdmission } from '../src/service/admission.js';

describe('admission', () => {
  it('refuses past the request limit and admits again after a leave', () => {
    const admission = createAdmission({ maxRequests: 2, maxBytes: 1000 });
    expect(admission.tryEnter(10)).toBe(true);
    expect(admission.tryEnter(10)).toBe(true);
    expect(admission.tryEnter(10)).toBe(false);
    admission.leave(10);
    expect(admission.tryEnter(10)).toBe(true);
    expect(admission.inFlight).toBe(2);
  });

  it('refuses past the byte limit, but admits one oversized request when nothing else is held', () => {
    const admission = createAdmission({ maxRequests: 10, maxBytes: 100 });
    expect(admission.tryEnter(60)).toBe(true);
    expect(admission.tryEnter(50)).toBe(false);
    expect(admission.inFlightBytes).toBe(60);
    admission.leave(60);
    expect(admission.tryEnter(500)).toBe(true);
    expect(admission.tryEnter(1)).toBe(false);
  });

  it('resolves idle() when the last request leaves', async () => {
    const admission = createAdmission({ maxRequests: 10, maxBytes: 100 });
    await expect(admission.idle()).resolves.toBeUndefined();
    admission.tryEnter(1);
    admission.tryEnter(1);
    let idle = false;
    const waiting = admission.idle().then(() => (idle = true));
    admission.leave(1);
    await Promise.resolve();
    expect(idle).toBe(false);
    admission.leave(1);
    await waiting;
    expect(idle).toBe(true);
  });
});
