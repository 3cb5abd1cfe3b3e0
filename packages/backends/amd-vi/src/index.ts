export * from "./page-mode.js";
