#!/usr/bin/env node
// What an `iotlb-hit` lookup costs in JavaScript before any of the model's semantics: the native
// baseline's workload (1024 entries, 4-way LRU, 2^20 lookups over 512 pages, ASID 1) on a bare
// 4-way LRU TLB, once with its arrays as module constants (what C's globals compile to) and once
// with them as an object's fields (what any IOTLB instance is). Compare with `iotlb-hit` from
// `pnpm bench:json` and the C figure from `node ../shared/baselines/compare.mjs`.
//
// Usage: node scripts/iotlb-floor.mjs
const SETS = 256;
const WAYS = 4;
const LOOKUPS = 1 << 20;

// --- arrays as module constants -------------------------------------------------------------
const vpns = new Float64Array(SETS * WAYS);
const ppns = new Float64Array(SETS * WAYS);
const asids = new Int32Array(SETS * WAYS);
const ages = new Float64Array(SETS * WAYS);
let clock = 0;

function lookupGlobal(asid, iova) {
  const vpn = Math.floor(iova / 4096);
  for (let j = (vpn & (SETS - 1)) * WAYS, end = j + WAYS; j < end; j++) {
    if (vpns[j] === vpn && asids[j] === asid) {
      ages[j] = ++clock;
      return ppns[j] * 4096 + (iova - vpn * 4096);
    }
  }
  return -1;
}

function insertGlobal(asid, iova, pa) {
  const vpn = Math.floor(iova / 4096);
  const first = (vpn & (SETS - 1)) * WAYS;
  let victim = first;
  for (let w = first; w < first + WAYS; w++) {
    if (vpns[w] < 0) {
      victim = w;
      break;
    }
    if (ages[w] < ages[victim]) victim = w;
  }
  vpns[victim] = vpn;
  ppns[victim] = Math.floor(pa / 4096);
  asids[victim] = asid;
  ages[victim] = ++clock;
}

function runGlobal() {
  let acc = 0;
  for (let i = 0; i < LOOKUPS; i++) {
    const page = (i * 7) & 511;
    const out = lookupGlobal(1, 0x1_0000_0000 + page * 4096);
    if (out >= 0) acc += out;
    else {
      const pa = 0x8_0000_0000 + page * 4096;
      insertGlobal(1, 0x1_0000_0000 + page * 4096, pa);
      acc += pa;
    }
  }
  return acc;
}

// --- the same TLB as an object ---------------------------------------------------------------
class BareTlb {
  constructor() {
    this.vpns = new Float64Array(SETS * WAYS).fill(-1);
    this.ppns = new Float64Array(SETS * WAYS);
    this.asids = new Int32Array(SETS * WAYS);
    this.ages = new Float64Array(SETS * WAYS);
    this.clock = 0;
  }

  lookup(asid, iova) {
    const vpn = Math.floor(iova / 4096);
    const vpns = this.vpns;
    const asids = this.asids;
    for (let j = (vpn & (SETS - 1)) * WAYS, end = j + WAYS; j < end; j++) {
      if (vpns[j] === vpn && asids[j] === asid) {
        this.ages[j] = ++this.clock;
        return this.ppns[j] * 4096 + (iova - vpn * 4096);
      }
    }
    return -1;
  }

  insert(asid, iova, pa) {
    const vpn = Math.floor(iova / 4096);
    const first = (vpn & (SETS - 1)) * WAYS;
    let victim = first;
    for (let w = first; w < first + WAYS; w++) {
      if (this.vpns[w] < 0) {
        victim = w;
        break;
      }
      if (this.ages[w] < this.ages[victim]) victim = w;
    }
    this.vpns[victim] = vpn;
    this.ppns[victim] = Math.floor(pa / 4096);
    this.asids[victim] = asid;
    this.ages[victim] = ++this.clock;
  }
}

function runObject(tlb) {
  let acc = 0;
  for (let i = 0; i < LOOKUPS; i++) {
    const page = (i * 7) & 511;
    const out = tlb.lookup(1, 0x1_0000_0000 + page * 4096);
    if (out >= 0) acc += out;
    else {
      const pa = 0x8_0000_0000 + page * 4096;
      tlb.insert(1, 0x1_0000_0000 + page * 4096, pa);
      acc += pa;
    }
  }
  return acc;
}

function best(label, setup, run) {
  let ns = Number.POSITIVE_INFINITY;
  let sink = 0;
  for (let rep = 0; rep < 10; rep++) {
    const state = setup();
    const t0 = performance.now();
    sink += run(state);
    ns = Math.min(ns, ((performance.now() - t0) * 1e6) / LOOKUPS);
  }
  console.log(
    JSON.stringify({ workload: label, ops: LOOKUPS, ns_per_op: Math.round(ns * 100) / 100, sink: sink > 0 }),
  );
}

best(
  "iotlb-floor-module-arrays",
  () => vpns.fill(-1),
  () => runGlobal(),
);
best(
  "iotlb-floor-object-fields",
  () => new BareTlb(),
  (tlb) => runObject(tlb),
);
