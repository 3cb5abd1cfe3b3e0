export * from "./fault-status.js";
