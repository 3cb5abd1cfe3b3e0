/**
 * A ring queue of fixed-size records, as the three IOMMUs use for commands and events: SMMUv3
 * CMDQ/EVTQ (index + wrap bit + overflow flag in PROD/CONS, hw-facts 6), VT-d's invalidation queue
 * and AMD's command buffer / event log (head and tail byte offsets).
 *
 * Storage: in a `PhysMemory` at a base address when given one (so a memory dump shows the queue as
 * the hardware and driver see it), else in a private `Uint8Array`.
 */
import { type AddressLike, toNumber } from "../address.js";
import { HwError } from "../errors.js";
import type { PhysMemory } from "../memory/phys-memory.js";

/** Options of {@link createRingQueue}. */
export interface RingQueueOptions {
  /** log2 of the number of entries (SMMUv3 LOG2SIZE). */
  log2Entries: number;
  /** Bytes per entry: 16 (SMMUv3 commands, VT-d legacy, AMD), 32 (SMMUv3 events, VT-d scalable). */
  entryBytes: number;
  /** Memory holding the queue; with `base`. @default a private Uint8Array */
  memory?: PhysMemory;
  /** Physical address of entry 0 in `memory`, aligned to the queue size. */
  base?: AddressLike;
  /**
   * `"wrap-bit"` (SMMUv3): PROD == CONS index with different wrap bits means full, so all
   * 2^log2Entries slots are usable. `"keep-one-free"` (VT-d IQ, AMD buffers): full when advancing
   * the tail would reach the head, so one slot stays empty. @default "wrap-bit"
   */
  fullRule?: "wrap-bit" | "keep-one-free";
}

/** Bit 31 of PROD/CONS: SMMUv3 `Q_OVERFLOW_FLAG` (PROD.OVFLG / CONS.OVACKFLG). */
export const Q_OVERFLOW_FLAG = 0x8000_0000;

/**
 * The queue. The producer writes at `prod`, the consumer reads at `cons`; both registers hold index
 * (low `log2Entries` bits), wrap (next bit) and, in bit 31, the overflow flag / acknowledgement.
 */
export class RingQueue {
  readonly entries: number;
  readonly entryBytes: number;
  readonly log2Entries: number;
  readonly fullRule: "wrap-bit" | "keep-one-free";
  readonly #memory: PhysMemory | undefined;
  readonly #base: number;
  readonly #bytes: Uint8Array | undefined;
  #prod = 0;
  #cons = 0;
  #dropped = 0;

  constructor(options: RingQueueOptions) {
    const log2 = options.log2Entries;
    if (!Number.isInteger(log2) || log2 < 0 || log2 > 20)
      throw new HwError("EINVAL", `log2Entries ${log2} must be 0..20`);
    if (!Number.isInteger(options.entryBytes) || options.entryBytes <= 0)
      throw new HwError("EINVAL", `entryBytes ${options.entryBytes} must be positive`);
    this.log2Entries = log2;
    this.entries = 2 ** log2;
    this.entryBytes = options.entryBytes;
    this.fullRule = options.fullRule ?? "wrap-bit";
    if (this.fullRule === "keep-one-free" && this.entries < 2)
      throw new HwError("EINVAL", "a keep-one-free queue needs at least 2 entries");
    this.#memory = options.memory;
    this.#base = options.base === undefined ? 0 : toNumber(options.base, "queue base");
    if (this.#memory && this.#base % (this.entries * this.entryBytes) !== 0 && this.#base % 4096 !== 0) {
      throw new HwError(
        "EINVAL",
        `queue base 0x${this.#base.toString(16)} is not aligned to the queue size or a page`,
      );
    }
    this.#bytes = this.#memory ? undefined : new Uint8Array(this.entries * this.entryBytes);
  }

  /** Physical address of the queue (0 without memory). */
  get base(): number {
    return this.#base;
  }

  /** The PROD register: index | wrap | overflow flag (bit 31). */
  get prod(): number {
    return this.#prod >>> 0;
  }

  /** The CONS register: index | wrap | overflow acknowledgement (bit 31). */
  get cons(): number {
    return this.#cons >>> 0;
  }

  /** Producer byte offset (VT-d IQT / AMD tail): index x entry size. */
  get prodOffset(): number {
    return this.#index(this.#prod) * this.entryBytes;
  }

  /** Consumer byte offset (VT-d IQH / AMD head). */
  get consOffset(): number {
    return this.#index(this.#cons) * this.entryBytes;
  }

  /** Records dropped because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  #index(reg: number): number {
    return reg & (this.entries - 1);
  }

  #wrapIndex(reg: number): number {
    // Index and wrap bit together: log2Entries + 1 bits.
    return reg & (this.entries * 2 - 1);
  }

  /** Entries waiting for the consumer. */
  get count(): number {
    return (
      (this.#wrapIndex(this.#prod) - this.#wrapIndex(this.#cons) + this.entries * 2) % (this.entries * 2)
    );
  }

  /** No entry waiting. */
  get empty(): boolean {
    return this.count === 0;
  }

  /** No room for another entry (per the full rule). */
  get full(): boolean {
    return this.count >= (this.fullRule === "wrap-bit" ? this.entries : this.entries - 1);
  }

  /** PROD.OVFLG differs from CONS.OVACKFLG: records were lost and the consumer has not acknowledged. */
  get overflowPending(): boolean {
    return ((this.#prod ^ this.#cons) & Q_OVERFLOW_FLAG) !== 0;
  }

  #advance(reg: number): number {
    const next = (this.#wrapIndex(reg) + 1) % (this.entries * 2);
    return (reg & Q_OVERFLOW_FLAG) | next;
  }

  #slotAddress(reg: number): number {
    return this.#base + this.#index(reg) * this.entryBytes;
  }

  /**
   * Producer side: appends a record. When full, the record is dropped and false returned; with
   * `overflow` (event queues: SMMUv3 EVTQ, AMD event log) the overflow flag is toggled in PROD if
   * no overflow is pending (the SMMUv3 semantics: one flag per unacknowledged overflow).
   * `EINVAL` for a record of the wrong size.
   */
  push(record: Uint8Array, options: { overflow?: boolean } = {}): boolean {
    if (record.length !== this.entryBytes)
      throw new HwError("EINVAL", `queue record must be ${this.entryBytes} bytes, got ${record.length}`);
    if (this.full) {
      this.#dropped++;
      if (options.overflow && !this.overflowPending) this.#prod ^= Q_OVERFLOW_FLAG;
      return false;
    }
    if (this.#memory) this.#memory.write(this.#slotAddress(this.#prod), record);
    else this.#bytes!.set(record, this.#index(this.#prod) * this.entryBytes);
    this.#prod = this.#advance(this.#prod);
    return true;
  }

  /** The record at the consumer index without consuming it, or undefined when empty. */
  peek(): Uint8Array | undefined {
    if (this.empty) return undefined;
    if (this.#memory) return this.#memory.read(this.#slotAddress(this.#cons), this.entryBytes);
    const at = this.#index(this.#cons) * this.entryBytes;
    return this.#bytes!.slice(at, at + this.entryBytes);
  }

  /** Consumer side: removes and returns the next record, or undefined when empty. */
  pop(): Uint8Array | undefined {
    const rec = this.peek();
    if (rec) this.#cons = this.#advance(this.#cons);
    return rec;
  }

  /** Consumer acknowledges an overflow (Linux copies PROD's flag into CONS). */
  acknowledgeOverflow(): void {
    this.#cons = (this.#cons & ~Q_OVERFLOW_FLAG) | (this.#prod & Q_OVERFLOW_FLAG);
  }

  /**
   * Writes a register as the driver would (e.g. CMDQ_PROD after filling entries in memory, or
   * EVTQ_CONS after consuming). `EINVAL` for bits beyond index, wrap and bit 31.
   */
  setRegister(which: "prod" | "cons", value: number): void {
    const allowed = (this.entries * 2 - 1) | Q_OVERFLOW_FLAG;
    if ((value >>> 0) & ~allowed)
      throw new HwError(
        "EINVAL",
        `${which} value 0x${(value >>> 0).toString(16)} has bits beyond index, wrap and overflow`,
      );
    if (which === "prod") this.#prod = value >>> 0;
    else this.#cons = value >>> 0;
  }
}

/** Creates a ring queue. */
export function createRingQueue(options: RingQueueOptions): RingQueue {
  return new RingQueue(options);
}
