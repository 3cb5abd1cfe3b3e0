import { describe, expect, it } from "vitest";
import { createPhysMemory } from "../memory/phys-memory.js";
import { createRingQueue, Q_OVERFLOW_FLAG } from "./queue.js";
import { decodeSmmuEvent, encodeSmmuEvent } from "./smmu-event.js";

const rec = (n: number, size = 16) => new Uint8Array(size).fill(n);

describe("ring queue", () => {
  it("wrap-bit rule: all slots usable, PROD/CONS carry the wrap bit", () => {
    const q = createRingQueue({ log2Entries: 2, entryBytes: 16 });
    for (let i = 0; i < 4; i++) expect(q.push(rec(i))).toBe(true);
    expect(q.full).toBe(true);
    expect([q.prod, q.cons]).toEqual([0b100, 0]); // index 0, wrap 1
    expect(q.pop()?.[0]).toBe(0);
    expect(q.push(rec(4))).toBe(true);
    expect([q.prod, q.cons, q.count]).toEqual([0b101, 0b001, 4]);
    expect([1, 2, 3, 4].map(() => q.pop()?.[0])).toEqual([1, 2, 3, 4]);
    expect(q.empty).toBe(true);
    expect(q.pop()).toBeUndefined();
  });

  it("keep-one-free rule (VT-d IQ, AMD): one slot stays empty; offsets in bytes", () => {
    const q = createRingQueue({ log2Entries: 2, entryBytes: 16, fullRule: "keep-one-free" });
    expect([0, 1, 2, 3].map((i) => q.push(rec(i)))).toEqual([true, true, true, false]);
    expect([q.prodOffset, q.consOffset]).toEqual([48, 0]);
  });

  it("SMMUv3 event queue overflow: a full queue drops the record and toggles OVFLG until acknowledged", () => {
    const q = createRingQueue({ log2Entries: 1, entryBytes: 32 });
    const ev = encodeSmmuEvent("F_TRANSLATION", { sid: 1 });
    q.push(ev, { overflow: true });
    q.push(ev, { overflow: true });
    expect(q.push(ev, { overflow: true })).toBe(false);
    expect(q.overflowPending).toBe(true);
    expect((q.prod & Q_OVERFLOW_FLAG) >>> 0).toBe(Q_OVERFLOW_FLAG);
    q.push(ev, { overflow: true }); // a second loss while pending does not toggle back
    expect([q.overflowPending, q.dropped]).toEqual([true, 2]);
    expect(decodeSmmuEvent(q.pop()!).name).toBe("F_TRANSLATION");
    q.acknowledgeOverflow();
    expect(q.overflowPending).toBe(false);
    expect((q.cons & Q_OVERFLOW_FLAG) >>> 0).toBe(Q_OVERFLOW_FLAG);
    // A command queue (no overflow option) just refuses.
    const c = createRingQueue({ log2Entries: 0, entryBytes: 16 });
    expect([c.push(rec(1)), c.push(rec(2)), c.overflowPending]).toEqual([true, false, false]);
  });

  it("in physical memory the records are visible at base + index * size", () => {
    const memory = createPhysMemory();
    const q = createRingQueue({ log2Entries: 3, entryBytes: 16, memory, base: 0x4000_0000 });
    q.push(rec(0xaa));
    q.push(rec(0xbb));
    expect(memory.readU8(0x4000_0010)).toBe(0xbb);
    // The driver writes an entry itself and publishes it through PROD.
    memory.write(0x4000_0020, rec(0xcc));
    q.setRegister("prod", 3);
    expect([q.pop()?.[0], q.pop()?.[0], q.pop()?.[0]]).toEqual([0xaa, 0xbb, 0xcc]);
  });

  it("refuses bad records and register values", () => {
    const q = createRingQueue({ log2Entries: 2, entryBytes: 16 });
    expect(() => q.push(new Uint8Array(15))).toThrow(/must be 16 bytes, got 15/);
    expect(() => q.setRegister("prod", 0x10)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => createRingQueue({ log2Entries: 2.5, entryBytes: 16 })).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
  });
});
