export * from "./capability.js";
