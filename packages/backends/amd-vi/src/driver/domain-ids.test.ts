import { describe, expect, it } from "vitest";
import { createDomainIdAllocator } from "./domain-ids.js";

describe("AMD-Vi domain IDs", () => {
  it("hands out the lowest free ID from 1, reuses freed ones and runs out with ENOSPC", () => {
    const ids = createDomainIdAllocator(3);
    expect([ids.alloc(), ids.alloc(), ids.alloc()]).toEqual([1, 2, 3]);
    expect(() => ids.alloc()).toThrowError(expect.objectContaining({ code: "ENOSPC" }));
    ids.free(2);
    expect(ids.alloc()).toBe(2);
    expect(() => ids.free(7)).toThrowError(expect.objectContaining({ code: "EINVAL" }));
    expect(ids.inUse).toBe(3);
  });
});
