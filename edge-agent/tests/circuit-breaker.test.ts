import { describe, expect, it } from 'vitest';
import { type BreakerTransition, createCircuitBreaker } from '../src/runtime/circuit-breaker.js';

function breaker(threshold = 3, probeIntervalMs = 1000) {
  let t = 0;
  const transitions: BreakerTransition[] = [];
  const b = createCircuitBreaker({
    failureThreshold: threshold,
    probeIntervalMs,
    now: () => t,
    onTransition: (x) => transitions.push(x),
  });
  return { b, transitions, at: (ms: number) => (t = ms) };
}

describe('circuit breaker', () => {
  it('opens after N consecutive failures; a success in between resets the count', () => {
    const { b, transitions } = breaker(3);
    b.onFailure('timeout');
    b.onFailure('timeout');
    b.onSuccess();
    b.onFailure('timeout');
    b.onFailure('timeout');
    expect(b.state).toBe('closed');
    expect(b.allowsRequest()).toBe(true);
    b.onFailure('no_responders');
    expect(b.state).toBe('open');
    expect(b.allowsRequest()).toBe(false);
    expect(transitions.map((x) => [x.from, x.to])).toEqual([['closed', 'open']]);
    expect(transitions[0]!.reason).toBe('3 consecutive failures, last: no_responders');
  });

  it('while open, grants one probe per interval; a probe success half-opens, a request success closes', () => {
    const { b, transitions, at } = breaker(1, 1000);
    at(100);
    b.trip('disconnected from NATS');
    expect(b.takeProbeSlot()).toBe(false);
    at(1100);
    expect(b.takeProbeSlot()).toBe(true);
    expect(b.takeProbeSlot()).toBe(false);
    b.onProbeSuccess();
    expect(b.state).toBe('half-open');
    expect(b.allowsRequest()).toBe(true);
    b.onSuccess();
    expect(b.state).toBe('closed');
    expect(transitions.map((x) => x.to)).toEqual(['open', 'half-open', 'closed']);
  });

  it('a failure while half-open opens again at once', () => {
    const { b, at } = breaker(5);
    b.trip('x');
    at(2000);
    b.takeProbeSlot();
    b.onProbeSuccess();
    b.onFailure('timeout');
    expect(b.state).toBe('open');
  });

  it('expediteProbe lets the next probe run without waiting (after a reconnect)', () => {
    const { b, at } = breaker(1, 60_000);
    at(10);
    b.trip('disconnected');
    expect(b.takeProbeSlot()).toBe(false);
    b.expediteProbe();
    expect(b.takeProbeSlot()).toBe(true);
  });

  it('bad call: a threshold that is not a positive integer', () => {
    expect(() => createCircuitBreaker({ failureThreshold: 0, probeIntervalMs: 1, now: () => 0 })).toThrow(
      /"failureThreshold" must be a positive integer/,
    );
  });
});
