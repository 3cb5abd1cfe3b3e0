/**
 * Intel VT-d page-table formats: second stage (`intel-vtd-ss`) and first stage (`intel-vtd-fs`).
 *
 * @module
 */
export { decodeVtdFs, decodeVtdSs, encodeVtdFs, encodeVtdSs } from "./descriptors.js";
export { intelVtdFsFormat, vtdFsGeometry } from "./first-stage.js";
export { intelVtdSsFormat, vtdAgawForIas, vtdSsAgaw, vtdSsGeometry } from "./second-stage.js";
