/**
 * Fault reporting (`report_iommu_fault()`): counted, logged, traced, handed to the domain's handler;
 * never thrown.
 */
import type { IommuDevice } from "./device.js";
import type { DomainRecord } from "./domain.js";
import type { FaultResult } from "./fault.js";
import { type CoreState, logMessage } from "./state.js";

/**
 * Reports a fault on `domain` by `device` at `iova`: emits `io_page_fault`, calls the handler and
 * returns its answer, or `"ENOSYS"` without one. A handler that throws is logged and answers `EIO`.
 */
export function reportFault(
  state: CoreState,
  domain: DomainRecord | undefined,
  device: IommuDevice,
  iova: number,
  flags: number,
  driverName: string,
): FaultResult {
  state.faultCount++;
  if (state.events.active) {
    state.events.emit({
      type: "io_page_fault",
      device: device.name,
      driver: driverName,
      iova: BigInt(iova),
      flags,
    });
  }
  let result: FaultResult = "ENOSYS";
  if (domain?.faultHandler !== undefined) {
    try {
      result = domain.faultHandler(domain, device, BigInt(iova), flags, domain.faultToken);
    } catch (error) {
      logMessage(state, "warn", `${device.name}: fault handler threw: ${String(error)}`);
      result = "EIO";
    }
  }
  if (domain !== undefined) {
    state.faults.push({ domain, device, iova: BigInt(iova), flags, result, time: state.clock.now() });
    if (state.faults.length > state.historyLimit) state.faults.shift();
  }
  if (result !== 0) {
    logMessage(
      state,
      "info",
      `${device.name}: unhandled ${flags & 1 ? "write" : "read"} fault at iova 0x${iova.toString(16)} (${result})`,
    );
  }
  return result;
}
