/** ARM LPAE (VMSAv8-64 long descriptor) stage-1 and stage-2 formats. */
export * from "./codec.js";
export * from "./descriptor.js";
export * from "./format.js";
export * from "./geometry.js";
export * from "./level-codec.js";
export * from "./tcr.js";
