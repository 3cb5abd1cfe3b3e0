import { describe, expect, it } from "vitest";
import { createPageAllocator, createPhysMemory, IOMMU_READ, IOMMU_WRITE, isIommuSimError } from "./index.js";

describe("physical memory", () => {
  it("reads zero where nothing was written and allocates nothing for reads", () => {
    const mem = createPhysMemory();
    expect(mem.readU64(0x1234_5678_9000n)).toBe(0n);
    expect(mem.framesResident).toBe(0);
  });
  it("stores little-endian values across frame boundaries", () => {
    const mem = createPhysMemory();
    mem.writeU64(0xffen, 0x1122334455667788n);
    expect(mem.readU8(0xffe)).toBe(0x88);
    expect(mem.readU8(0x1005)).toBe(0x11);
    expect(mem.readU64(0xffe)).toBe(0x1122334455667788n);
    expect(mem.framesResident).toBe(2);
  });
  it("refuses addresses beyond its width with ERANGE", () => {
    const mem = createPhysMemory({ addressBits: 40 });
    try {
      mem.writeU32(2 ** 40, 1);
      expect.unreachable();
    } catch (e) {
      expect(isIommuSimError(e) && e.code).toBe("ERANGE");
    }
  });
});

describe("page allocator", () => {
  it("counts pages, frees them and injects the n-th failure", () => {
    const mem = createPhysMemory();
    const a = createPageAllocator(mem);
    const p1 = a.alloc(4096);
    const p2 = a.alloc(65536);
    expect(p2 % 65536).toBe(0);
    expect(a.pagesInUse).toBe(17);
    a.failAfter(2);
    a.alloc(4096);
    expect(() => a.alloc(4096)).toThrowError(/injected/);
    a.free(p1, 4096);
    a.free(p2, 65536);
    expect(a.pagesInUse).toBe(1);
    expect(IOMMU_READ | IOMMU_WRITE).toBe(3);
  });
});

describe("physical memory, dense window", () => {
  it("costs one chunk for a first write far into the window", () => {
    const mem = createPhysMemory();
    // 64 GiB into the default window (which starts at 1 GiB): used to grow an array of 16M holes.
    mem.writeU64(0x10_0000_0000, 0x1234n);
    expect(mem.readU64(0x10_0000_0000)).toBe(0x1234n);
    expect(mem.framesResident).toBe(1);
    mem.releaseFrame(0x10_0000_0000 / 4096);
    expect(mem.framesResident).toBe(0);
    expect(mem.readU64(0x10_0000_0000)).toBe(0n);
  });
});
