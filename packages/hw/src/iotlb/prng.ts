/**
 * Deterministic pseudo-random numbers for random replacement: Marsaglia's xorshift32 (shifts
 * 13, 17, 5). Same seed, same victims, on every run and host.
 */
export class Xorshift32 {
  private state: number;

  /** @param seed any 32-bit value; 0 (a fixed point of xorshift) is replaced by 1. @default 1 */
  constructor(seed = 1) {
    this.state = seed >>> 0 || 1;
  }

  /** Next value in 1..2^32-1. */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  /** Next value in `0..n-1` (n >= 1). The small modulo bias is irrelevant for victim choice. */
  below(n: number): number {
    return this.next() % n;
  }
}
