// Prints the worked walks of docs/hw.md (build @iommu-sim/hw first: pnpm --filter @iommu-sim/hw build).
import * as hw from "../packages/hw/dist/index.js";

const { createPhysMemory, createPageTable, IOMMU_READ: R, IOMMU_WRITE: W, IOMMU_CACHE: C } = hw;
const hex = (v) => `0x${BigInt(v).toString(16)}`;
function show(fmt, cfg, iova, pa, size, prot) {
  const memory = createPhysMemory();
  const t = createPageTable(fmt, { memory, ...cfg });
  t.map(iova, pa, size, 1, prot);
  const tr = t.walk(iova + 0x123n);
  console.log(
    `### ${fmt} ${JSON.stringify(cfg)} map ${hex(iova)} -> ${hex(pa)} size ${hex(size)} prot ${prot}`,
  );
  console.log(
    `geometry: levels ${t.geometry.levels} start ${t.geometry.startLevel} top ${t.geometry.topTableBytes} bitmap ${hex(t.geometry.pgsizeBitmap)}`,
  );
  for (const s of tr.steps)
    console.log(
      `L${s.level} table ${hex(s.tableAddress)} [${s.index}] @${hex(s.descriptorAddress)} = ${hex(s.descriptor)} ${s.decoded.type} ${JSON.stringify(s.decoded.fields, (_k, v) => (typeof v === "bigint" ? hex(v) : v))}`,
    );
  console.log(`=> ${tr.fault ?? hex(tr.outputAddress)} size ${tr.pageSize} prot ${tr.prot}`);
}
show("arm-lpae-s1", { ias: 48, oas: 48 }, 0x12345000n, 0x87654000n, 4096n, R | C);
show("arm-lpae-s2", { ias: 40, oas: 40 }, 0xffc0000000n, 0xffc0000000n, 1n << 30n, R | W | C);
show("arm-v7s", { ias: 32, oas: 32 }, 0x12345000n, 0x87654000n, 4096n, R | W);
show("amd-v1", { ias: 48, oas: 52 }, 0x1000n, 0x12345000n, 4096n, R | W);
show("intel-vtd-ss", { ias: 48, oas: 48 }, 0x40000000n, 0x40000000n, 2n << 20n, R | W);
show("intel-vtd-fs", { ias: 48, oas: 48 }, 0x12345000n, 0x87654000n, 4096n, R | W);
